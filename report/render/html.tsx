// A run's report as one self-contained HTML file — no network, no external assets — that a
// person can attach to a ticket or a change request: the verdict, the cutover checklist (a
// readiness per route), and per route the findings with both sides' values. Everything from
// the data is escaped (JSX); the only script filters rows as you type, and the page's CSP
// allows no other.
import { createHash } from 'node:crypto';
import type { VNode } from 'preact';
import { impactText, type ReplayResult, type RouteResult } from '../../compare/readiness';
import { Badge, ConsumersTable, documentHtml, Head, Layout, pct, show } from './parts';

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
  const sections = r.routes.filter((x) => x.findings.length || Object.keys(x.incompleteReasons).length || Object.keys(x.inconclusiveReasons).length || x.lackingData);
  return documentHtml(
    <Layout title={title} standalone={{ csp: CSP, script: FILTER_SCRIPT }}>
      <h1>
        {title} <Badge of={verdict} />
      </h1>
      <p class="muted">
        {r.compared} request(s) compared of {r.replayed}; {r.regressions} regression(s); coverage {pct(r.coverage)}
        {ctx.generatedAt ? `; generated ${ctx.generatedAt}` : ''}
      </p>
      {r.failures.length ? (
        <ul class="fail">
          {r.failures.map((f) => (
            <li>gate failed: {f}</li>
          ))}
        </ul>
      ) : null}
      {r.expired.length ? <p class="muted">Expired accepted differences (they count again): {r.expired.map((e) => `${e.route ?? '*'} ${e.target ?? '*'} ${e.field ?? '*'} — ${e.reason} (expired ${e.expires})`).join('; ')}</p> : null}
      <h2>Cutover checklist</h2>
      <table id="routes">
        <Head cols={['route', 'readiness', { n: 'compared' }, { n: 'match' }, { n: 'mismatch' }, { n: 'accepted' }, { n: 'incomplete' }, { n: 'inconclusive' }, { n: 'error' }]} />
        <tbody>
          {r.routes.map((x) => (
            <tr data-route={x.route}>
              <td>
                <code>{x.route}</code>
              </td>
              <td>
                <Badge of={x.readiness ?? 'not enough data'}>{x.readiness ?? ''}</Badge>
                {x.needs ? <span class="muted"> {x.needs} more needed</span> : null}
              </td>
              {[x.compared, x.match, x.mismatch, x.accepted, x.incomplete, x.inconclusive, x.error].map((n) => (
                <td class="n">{n}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {notCompared.length ? (
        <>
          <h2>Not compared</h2>
          <table>
            <tbody>
              {notCompared.map(([why, n]) => (
                <tr>
                  <td>{why}</td>
                  <td class="n">{n}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      {r.consumers?.length ? (
        <>
          <h2>Consumers</h2>
          <ConsumersTable consumers={r.consumers} />
        </>
      ) : null}
      <h2>Differences</h2>
      <input type="search" id="filter" placeholder="Filter by route, target, field or value" aria-label="filter findings" />
      {sections.length ? sections.map((x) => <RouteSection x={x} />) : <p class="muted">No differences.</p>}
    </Layout>,
  );
}

function RouteSection({ x }: { x: RouteResult }): VNode {
  const incomplete = Object.entries(x.incompleteReasons);
  const inconclusive = Object.entries(x.inconclusiveReasons);
  return (
    <details class="route" open>
      <summary>
        <code>{x.route}</code> — {x.mismatch} mismatch, {x.incomplete} incomplete, {x.inconclusive} inconclusive, {x.error} error of {x.compared}
      </summary>
      {x.findings.length ? (
        <table>
          <Head cols={['severity', 'kind', 'target', 'field', { n: 'requests' }, 'legacy', 'candidate', 'example']} />
          <tbody>
            {x.findings.map((f) => (
              <tr data-text={`${x.route} ${f.target} ${f.field} ${f.kind} ${show(f.legacy, 300)} ${show(f.candidate, 300)}`.toLowerCase()} class={f.accepted ? 'accepted' : ''}>
                <td class={`sev-${f.severity}`}>{f.accepted ? 'accepted' : f.severity}</td>
                <td>{f.kind}</td>
                <td>
                  <code>{f.target}</code>
                </td>
                <td>
                  <code>{f.field}</code>
                  {impactText(f) ? <div class="muted">{impactText(f)}</div> : null}
                </td>
                <td class="n">{f.requests}</td>
                <td class="v legacy">{show(f.legacy, 300)}</td>
                <td class="v candidate">{show(f.candidate, 300)}</td>
                <td>
                  <code>{f.example}</code>
                  {f.accepted ? (
                    <>
                      <br />
                      <span class="muted">{f.accepted}</span>
                    </>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {incomplete.length ? <Reasons title="Incomplete:" reasons={incomplete} /> : null}
      {inconclusive.length ? <Reasons title="Inconclusive (the sides did not start from the same data; no evidence either way):" reasons={inconclusive} /> : null}
      {x.lackingData ? <p class="muted">{x.lackingData} request(s) where the candidate answered 404/409/422 and legacy succeeded: the candidate may lack data.</p> : null}
    </details>
  );
}

function Reasons({ title, reasons }: { title: string; reasons: [string, number][] }): VNode {
  return (
    <>
      <p>{title}</p>
      <ul>
        {reasons.map(([why, n]) => (
          <li>
            {why} ({n})
          </li>
        ))}
      </ul>
    </>
  );
}
