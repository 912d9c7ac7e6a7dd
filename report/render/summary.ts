// A run's result as terminal text: a line per route, its finding groups and what was incomplete.
import { impactText, type ReplayResult, type ResultLabel } from '../../compare/readiness';
import { percent as pct, preview } from '../../core/format';

const show = (v: unknown) => preview(v, 80, 'undefined');
const impact = (f: Parameters<typeof impactText>[0]) => {
  const text = impactText(f);
  return text ? `  [${text}]` : '';
};

export type { ResultLabel } from '../../compare/readiness';

export function renderText(r: ReplayResult, label: ResultLabel = 'replay'): string {
  const lines = [`${r.passed ? 'PASS' : 'FAIL'} ${label} ${r.runId}: ${r.replayed} ${label === 'replay' ? 'replayed' : 'requests'}, ${r.compared} compared, ${r.regressions} regression(s), coverage ${pct(r.coverage)}`];
  for (const route of r.routes) {
    lines.push(`  ${route.route}: ${route.match} match, ${route.mismatch} mismatch${route.accepted ? ` (+${route.accepted} accepted)` : ''}, ${route.incomplete} incomplete, ${route.inconclusive ? `${route.inconclusive} inconclusive, ` : ''}${route.error} error — ${route.readiness ?? 'not evaluated'}${route.needs ? ` (${route.needs} more needed)` : ''}`);
    for (const f of route.findings.slice(0, 10)) lines.push(`    ${f.accepted ? 'accepted' : f.severity.padEnd(8)} ${f.kind.padEnd(16)} ${f.target} ${f.field}  ${f.requests} request(s)${f.legacy !== undefined || f.candidate !== undefined ? `  legacy=${show(f.legacy)} candidate=${show(f.candidate)}` : ''}${impact(f)}`);
    for (const [why, n] of Object.entries(route.incompleteReasons).slice(0, 5)) lines.push(`    incomplete: ${why} (${n})`);
    for (const [why, n] of Object.entries(route.inconclusiveReasons).slice(0, 5)) lines.push(`    inconclusive: ${why} (${n})`);
    if (route.lackingData) lines.push(`    ${route.lackingData} request(s) where the candidate answered 404/409/422 and legacy succeeded: does the candidate's database lack seed data (--seed)?`);
  }
  if (r.consumers?.length) {
    lines.push('  consumers:');
    for (const c of r.consumers) lines.push(`    ${c.name} (${c.owner}${c.critical ? ', critical' : ''}): ${c.readiness} — ${c.why}`);
  }
  for (const e of r.expired) lines.push(`  expired accepted difference (counts again): ${e.route ?? '*'} ${e.target ?? '*'} ${e.field ?? '*'} — ${e.reason} (expired ${e.expires})`);
  for (const f of r.failures) lines.push(`  gate failed: ${f}`);
  return lines.join('\n');
}
