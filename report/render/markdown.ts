// A run's result as Markdown, for a pull-request comment.
import type { ReplayResult } from '../../compare/readiness';
import { percent as pct, preview } from '../../core/format';
import type { ResultLabel } from './summary';

const show = (v: unknown) => preview(v, 80, 'undefined');

export function renderMarkdown(r: ReplayResult, label: ResultLabel = 'replay'): string {
  const out = [`### shadowdiff ${label}: ${r.passed ? '✅ no regressions' : '❌ regressions'}`, '', `${r.replayed} requests ${label === 'replay' ? 'replayed' : 'seen'}, ${r.compared} compared, **${r.regressions} regression(s)**, coverage ${pct(r.coverage)} (run \`${r.runId}\`).`, ''];
  out.push('| route | readiness | compared | match | mismatch | accepted | incomplete | inconclusive | error |', '|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const x of r.routes) out.push(`| \`${md(x.route)}\` | ${x.readiness ?? ''}${x.needs ? ` (${x.needs} more needed)` : ''} | ${x.compared} | ${x.match} | ${x.mismatch} | ${x.accepted} | ${x.incomplete} | ${x.inconclusive} | ${x.error} |`);
  const findings = r.routes.flatMap((x) => x.findings.filter((f) => !f.accepted)).sort((a, b) => b.requests - a.requests);
  if (findings.length) {
    out.push('', '| route | target | field | kind | requests | legacy | candidate |', '|---|---|---|---|---:|---|---|');
    for (const f of findings.slice(0, 30)) out.push(`| \`${md(f.route)}\` | \`${md(f.target)}\` | \`${md(f.field)}\` | ${f.kind} | ${f.requests} | \`${md(show(f.legacy))}\` | \`${md(show(f.candidate))}\` |`);
    if (findings.length > 30) out.push('', `…and ${findings.length - 30} more.`);
  }
  if (r.failures.length) out.push('', ...r.failures.map((f) => `- gate failed: ${f}`));
  if (r.expired.length) out.push('', ...r.expired.map((e) => `- expired accepted difference: ${e.target ?? '*'} ${e.field ?? '*'} — ${e.reason} (expired ${e.expires})`));
  return `${out.join('\n')}\n`;
}

// A table cell: pipes escaped, backticks (which would end the code span) and line breaks and
// other control characters replaced.
// eslint-disable-next-line no-control-regex
const md = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/\|/g, '\\|').replace(/`/g, "'");
