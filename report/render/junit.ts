// A run's result as JUnit XML: a test case per route, and one for the gates. It validates
// against Jenkins' junit-4 schema (no `skipped` on <testsuites>), and the suite and case names
// are stable across runs (the run id is a property), so CI tools track each route's history.
// shadowdiff measures no time per route: every case says time="0" for consumers that need one.
import { impactText, type ReplayResult } from '../../compare/readiness';
import { preview } from '../../core/format';
import type { ResultLabel } from './summary';

const show = (v: unknown) => preview(v, 80, 'undefined');

export function renderJUnit(r: ReplayResult, label: ResultLabel = 'replay'): string {
  const cases = r.routes.map((x) => {
    const problems = x.findings.filter((f) => !f.accepted);
    const failed = x.mismatch > 0 || x.error > 0;
    let body = '';
    if (failed) {
      const text = [
        `${x.mismatch} mismatching and ${x.error} failed of ${x.compared} compared request(s)`,
        ...problems.map((f) => `${f.severity} ${f.kind} ${f.target} ${f.field}: ${f.requests} request(s), legacy=${show(f.legacy)} candidate=${show(f.candidate)} (e.g. ${f.exampleRequest ? `${f.exampleRequest}, shadow id ` : ''}${f.example})${impactText(f) ? ` [${impactText(f)}]` : ''}`),
      ].join('\n');
      body = `<failure message="${xml(`${x.mismatch + x.error} regression(s) on ${x.route}`)}" type="regression">${xml(text)}</failure>`;
    } else if (x.compared === x.incomplete + x.inconclusive) {
      body = `<skipped message="${xml(`no request on ${x.route} could be compared completely`)}"/>`;
    }
    const out = [...Object.entries(x.incompleteReasons).map(([why, n]) => `incomplete: ${why} (${n})`), ...Object.entries(x.inconclusiveReasons).map(([why, n]) => `inconclusive: ${why} (${n})`)];
    if (out.length) body += `<system-out>${xml(out.join('\n'))}</system-out>`;
    return `    <testcase classname="shadowdiff.${label}" name="${xml(x.route)}" assertions="${x.compared}" time="0">${body}</testcase>`;
  });
  // A case per declared consumer, so each team's readiness has its own history in CI.
  const consumers = (r.consumers ?? []).map((c) => {
    const body =
      c.readiness === 'not ready'
        ? `<failure message="${xml(`${c.name}: ${c.why}`)}" type="consumer">${xml(c.findings.filter((g) => !g.accepted).map((g) => `${g.severity} ${g.kind} ${g.route} ${g.target} ${g.field}: ${g.requests} request(s)`).join('\n'))}</failure>`
        : c.readiness === 'not enough data'
          ? `<skipped message="${xml(`${c.name}: ${c.why}`)}"/>`
          : '';
    return `    <testcase classname="shadowdiff.${label}.consumers" name="${xml(c.name)}" time="0">${body}</testcase>`;
  });
  cases.push(...consumers);
  const consumerFailures = (r.consumers ?? []).filter((c) => c.readiness === 'not ready').length;
  const consumerSkipped = (r.consumers ?? []).filter((c) => c.readiness === 'not enough data').length;
  const failures = consumerFailures + r.routes.filter((x) => x.mismatch > 0 || x.error > 0).length;
  const skipped = consumerSkipped + r.routes.filter((x) => !(x.mismatch > 0 || x.error > 0) && x.compared === x.incomplete + x.inconclusive).length;
  const gateCase = `    <testcase classname="shadowdiff.${label}" name="gates" time="0">${r.failures.length ? `<failure message="${xml(r.failures.join('; '))}" type="gate">${xml(r.failures.join('\n'))}</failure>` : ''}</testcase>`;
  const total = cases.length + 1;
  const failed = failures + (r.failures.length ? 1 : 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="shadowdiff ${label}" tests="${total}" failures="${failed}" errors="0" time="0">`,
    `  <testsuite name="shadowdiff ${label}" tests="${total}" failures="${failed}" errors="0" skipped="${skipped}" time="0">`,
    `    <properties><property name="run" value="${xml(r.runId)}"/></properties>`,
    ...cases,
    gateCase,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function xml(s: string): string {
  // XML 1.0 cannot carry most control characters even escaped: drop them.
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
