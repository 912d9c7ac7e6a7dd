// A run's result as Markdown, for a pull-request comment.
import { impactText, type ReplayResult } from '../../compare/readiness';
import { percent as pct, preview } from '../../core/format';
import type { ResultLabel } from './summary';

const show = (v: unknown) => preview(v, 80, 'undefined');

export function renderMarkdown(r: ReplayResult, label: ResultLabel = 'replay'): string {
  const out = [`### shadowdiff ${label}: ${r.passed ? '✅ no regressions' : '❌ regressions'}`, '', `${r.replayed} requests ${label === 'replay' ? 'replayed' : 'seen'}, ${r.compared} compared, **${r.regressions} regression(s)**, coverage ${pct(r.coverage)} (run \`${r.runId}\`).`, ''];
  out.push('| route | readiness | compared | match | mismatch | accepted | incomplete | inconclusive | error |', '|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const x of r.routes) out.push(`| \`${md(x.route)}\` | ${x.readiness ?? ''}${x.needs ? ` (${x.needs} more needed)` : ''} | ${x.compared} | ${x.match} | ${x.mismatch} | ${x.accepted} | ${x.incomplete} | ${x.inconclusive} | ${x.error} |`);
  const findings = r.routes.flatMap((x) => x.findings.filter((f) => !f.accepted)).sort((a, b) => b.requests - a.requests);
  const consumers = r.consumers?.length ? r.consumers : undefined;
  if (findings.length) {
    out.push('', `| route | target | field | kind | severity | requests | legacy | candidate |${consumers ? ' consumers |' : ''}`, `|---|---|---|---|---|---:|---|---|${consumers ? '---|' : ''}`);
    for (const f of findings.slice(0, 30)) out.push(`| \`${md(f.route)}\` | \`${md(f.target)}\` | \`${md(f.field)}\` | ${f.kind} | ${f.severity} | ${f.requests} | \`${md(show(f.legacy))}\` | \`${md(show(f.candidate))}\` |${consumers ? ` ${md(impactText(f))} |` : ''}`);
    if (findings.length > 30) out.push('', `…and ${findings.length - 30} more.`);
  }
  if (consumers) {
    out.push('', '| consumer | owner | readiness | why |', '|---|---|---|---|');
    for (const c of consumers) out.push(`| ${md(c.name)}${c.critical ? ' (critical)' : ''} | ${md(c.owner)} | ${c.readiness} | ${md(c.why)} |`);
  }
  if (r.failures.length) out.push('', ...r.failures.map((f) => `- gate failed: ${f}`));
  if (r.expired.length) out.push('', ...r.expired.map((e) => `- expired accepted difference: ${e.target ?? '*'} ${e.field ?? '*'} — ${e.reason} (expired ${e.expires})`));
  return `${out.join('\n')}\n`;
}

/**
 * One section per declared consumer, to send to the team that owns it: its readiness, what it
 * reads, the differences on its fields, and a line to sign off on.
 */
export function renderConsumerSections(r: ReplayResult): string {
  const out: string[] = [];
  for (const c of r.consumers ?? []) {
    out.push(`### ${md(c.name)}: ${c.readiness}`, '', `Owner: ${md(c.owner)}${c.contact ? ` (${md(c.contact)})` : ''}${c.critical ? ' · critical' : ''}. Run \`${md(r.runId)}\`: ${md(c.why)}.`, '');
    out.push('Reads:', ...c.reads.map((x) => `- \`${md(x.target)}\`${x.kind ? ` (${x.kind})` : ''}: ${x.paths.map((p) => `\`${md(p)}\``).join(', ')}${x.schema ? ', checked against its schema' : ''}`), '');
    const open = c.findings.filter((g) => !g.accepted);
    if (open.length) {
      out.push('| route | target | field | kind | severity | requests | legacy | candidate |', '|---|---|---|---|---|---:|---|---|');
      for (const g of open.slice(0, 30)) out.push(`| \`${md(g.route)}\` | \`${md(g.target)}\` | \`${md(g.field)}\` | ${g.kind} | ${g.severity} | ${g.requests} | \`${md(show(g.legacy))}\` | \`${md(show(g.candidate))}\` |`);
      if (open.length > 30) out.push('', `…and ${open.length - 30} more.`);
      out.push('');
    }
    const accepted = c.findings.length - open.length;
    if (accepted) out.push(`${accepted} accepted difference(s) on its fields.`, '');
    out.push(`- [ ] ${md(c.owner)} has reviewed the differences above and signs off on the cutover for ${md(c.name)} (name, date): ______`, '');
  }
  return out.join('\n');
}

// A table cell: pipes escaped, backticks (which would end the code span) and line breaks and
// other control characters replaced.
// eslint-disable-next-line no-control-regex
const md = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/\|/g, '\\|').replace(/`/g, "'");
