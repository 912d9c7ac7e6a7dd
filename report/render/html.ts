// A run's report as one self-contained HTML file — no network, no external assets — that a
// person can attach to a ticket or a change request: the verdict, the cutover checklist (a
// readiness per route), and per route the findings with both sides' values. Everything from
// the data is escaped; the only script filters rows as you type, and the page's CSP allows no other.
import { createHash } from 'node:crypto';
import type { ReplayResult, RouteResult } from '../../compare/readiness';

// The page's one script. A Content-Security-Policy in the page allows exactly this script (by
// its hash) and inline styles, and nothing else — no other script, no network — so even a
// value that escaped escaping could not run or phone home.
const FILTER_SCRIPT = `
document.getElementById('filter').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('tr[data-text]').forEach(function (tr) { tr.hidden = q !== '' && tr.getAttribute('data-text').indexOf(q) === -1; });
});
`;
const CSP = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${createHash('sha256').update(FILTER_SCRIPT).digest('base64')}'; img-src data:; base-uri 'none'; form-action 'none'`;

export interface HtmlContext {
  title?: string;
  /** Mirrored but not compared, by reason (the run's coverage counters). */
  notCompared?: Record<string, number>;
  generatedAt?: string;
}

export function renderHtml(r: ReplayResult, ctx: HtmlContext = {}): string {
  const title = ctx.title ?? `shadowdiff report — ${r.runId}`;
  const verdict = r.passed ? 'ready' : 'not ready';
  const notCompared = Object.entries(ctx.notCompared ?? {});
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h(title)}</title>
<style>
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; --line: #d0d7de; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 2rem 0 .5rem; }
.muted { color: var(--muted); } code, td.v { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { font-weight: 600; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; border-radius: 1em; padding: 0 .6em; font-size: 12px; font-weight: 600; color: #fff; }
.ready { background: var(--ok); } .not-ready { background: var(--bad); } .not-enough-data { background: var(--warn); }
.sev-high { color: var(--bad); font-weight: 600; } .sev-medium { color: var(--warn); } .accepted { color: var(--muted); text-decoration: line-through; }
td.v { max-width: 28rem; overflow-wrap: anywhere; } .legacy { color: var(--bad); } .candidate { color: var(--ok); }
details { margin: .5rem 0; border: 1px solid var(--line); border-radius: 6px; padding: .25rem .75rem; } summary { cursor: pointer; padding: .25rem 0; }
input[type=search] { width: 100%; padding: .4rem .6rem; margin: .5rem 0 1rem; font: inherit; }
ul.fail { color: var(--bad); }
</style>
</head>
<body>
<h1>${h(title)} <span class="badge ${cls(verdict)}">${h(verdict)}</span></h1>
<p class="muted">${r.compared} request(s) compared of ${r.replayed}; ${r.regressions} regression(s); coverage ${pct(r.coverage)}${ctx.generatedAt ? `; generated ${h(ctx.generatedAt)}` : ''}</p>
${r.failures.length ? `<ul class="fail">${r.failures.map((f) => `<li>gate failed: ${h(f)}</li>`).join('')}</ul>` : ''}
${r.expired.length ? `<p class="muted">Expired accepted differences (they count again): ${r.expired.map((e) => h(`${e.route ?? '*'} ${e.target ?? '*'} ${e.field ?? '*'} — ${e.reason} (expired ${e.expires})`)).join('; ')}</p>` : ''}
<h2>Cutover checklist</h2>
<table id="routes">
<thead><tr><th>route</th><th>readiness</th><th class="n">compared</th><th class="n">match</th><th class="n">mismatch</th><th class="n">accepted</th><th class="n">incomplete</th><th class="n">inconclusive</th><th class="n">error</th></tr></thead>
<tbody>
${r.routes.map((x) => `<tr data-route="${h(x.route)}"><td><code>${h(x.route)}</code></td><td><span class="badge ${cls(x.readiness ?? 'not enough data')}">${h(x.readiness ?? '')}</span></td><td class="n">${x.compared}</td><td class="n">${x.match}</td><td class="n">${x.mismatch}</td><td class="n">${x.accepted}</td><td class="n">${x.incomplete}</td><td class="n">${x.inconclusive}</td><td class="n">${x.error}</td></tr>`).join('\n')}
</tbody>
</table>
${notCompared.length ? `<h2>Not compared</h2><table><tbody>${notCompared.map(([why, n]) => `<tr><td>${h(why)}</td><td class="n">${n}</td></tr>`).join('')}</tbody></table>` : ''}
<h2>Differences</h2>
<input type="search" id="filter" placeholder="Filter by route, target, field or value" aria-label="filter findings">
${r.routes.filter((x) => x.findings.length || Object.keys(x.incompleteReasons).length || Object.keys(x.inconclusiveReasons).length || x.lackingData).map(routeSection).join('\n') || '<p class="muted">No differences.</p>'}
<script>${FILTER_SCRIPT}</script>
</body>
</html>
`;
}

function routeSection(x: RouteResult): string {
  const rows = x.findings.map((f) => {
    const text = `${x.route} ${f.target} ${f.field} ${f.kind} ${show(f.legacy)} ${show(f.candidate)}`.toLowerCase();
    return `<tr data-text="${h(text)}" class="${f.accepted ? 'accepted' : ''}"><td class="sev-${h(f.severity)}">${h(f.accepted ? 'accepted' : f.severity)}</td><td>${h(f.kind)}</td><td><code>${h(f.target)}</code></td><td><code>${h(f.field)}</code></td><td class="n">${f.requests}</td><td class="v legacy">${h(show(f.legacy))}</td><td class="v candidate">${h(show(f.candidate))}</td><td><code>${h(f.example)}</code>${f.accepted ? `<br><span class="muted">${h(f.accepted)}</span>` : ''}</td></tr>`;
  });
  const incomplete = Object.entries(x.incompleteReasons).map(([why, n]) => `<li>${h(why)} (${n})</li>`);
  const inconclusive = Object.entries(x.inconclusiveReasons).map(([why, n]) => `<li>${h(why)} (${n})</li>`);
  return `<details open>
<summary><code>${h(x.route)}</code> — ${x.mismatch} mismatch, ${x.incomplete} incomplete, ${x.inconclusive} inconclusive, ${x.error} error of ${x.compared}</summary>
${rows.length ? `<table><thead><tr><th>severity</th><th>kind</th><th>target</th><th>field</th><th class="n">requests</th><th>legacy</th><th>candidate</th><th>example</th></tr></thead><tbody>${rows.join('')}</tbody></table>` : ''}
${incomplete.length ? `<p>Incomplete:</p><ul>${incomplete.join('')}</ul>` : ''}
${inconclusive.length ? `<p>Inconclusive (the sides did not start from the same data; no evidence either way):</p><ul>${inconclusive.join('')}</ul>` : ''}
${x.lackingData ? `<p class="muted">${x.lackingData} request(s) where the candidate answered 404/409/422 and legacy succeeded: the candidate may lack data.</p>` : ''}
</details>`;
}

const cls = (s: string) => s.replace(/ /g, '-');
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function show(v: unknown): string {
  if (v === undefined) return '—';
  const t = JSON.stringify(v) ?? String(v);
  return t.length > 300 ? `${t.slice(0, 297)}…` : t;
}

/** Text for HTML content and attribute values. */
export function h(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
