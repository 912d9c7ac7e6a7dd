// A run: its routes with their readiness and trend, links to what differs, and re-evaluation.
import type { RunInfo, StoredRules } from '../../runtime/store/store';
import type { RouteOverview } from '../queries';
import { Badge, Head, pct, u } from '../render/parts';
import { notCompared, proxyLine } from '../coverage';
import { pageHtml } from './page';
import { Crumbs, Sparkline } from './parts';

export interface RunPage {
  run: RunInfo;
  routes: RouteOverview[];
  rules: StoredRules | undefined;
  /** After a re-evaluation: how many were re-evaluated and how many changed verdict. */
  reevaluated?: { count: string; changed: string } | undefined;
}

export function runPage({ run, routes, rules, reevaluated }: RunPage): string {
  const skipped = Object.entries(notCompared(run));
  const proxy = proxyLine(run);
  const total = routes.reduce((n, r) => n + r.compared, 0);
  const at = `/runs/${u(run.runId)}`;
  return pageHtml(
    run.runId,
    <>
      <Crumbs run={run.runId} />
      <h1>{run.runId}</h1>
      <p class="muted">
        {total} request(s) compared{skipped.length ? `; not compared: ${skipped.map(([why, n]) => `${why} ${n}`).join(', ')}` : ''}
      </p>
      {proxy ? <p id="proxy-coverage">{proxy}</p> : null}
      <h2>Routes</h2>
      <table id="routes">
        <Head cols={['route', 'readiness', { n: 'compared' }, { n: 'match' }, { n: 'mismatch' }, { n: 'incomplete' }, { n: 'inconclusive' }, { n: 'error' }, { n: 'mismatch rate' }, 'trend (per hour)']} />
        <tbody>
          {routes.map((r) => (
            <tr>
              <td>
                <a href={`${at}/differences?route=${u(r.route)}`}>{r.route}</a>
              </td>
              <td>
                <Badge of={r.readiness} />
              </td>
              {[r.compared, r.match, r.mismatch, r.incomplete, r.inconclusive, r.error].map((n) => (
                <td class="n">{n}</td>
              ))}
              <td class="n">{pct(r.mismatchRate)}</td>
              <td>
                <Sparkline trend={r.trend} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        <a href={`${at}/differences`}>All differences</a> · <a href={`${at}/checklist`}>cutover checklist</a> · <a href={`${at}/requests?verdict=mismatch`}>mismatching requests</a> · <a href={`${at}/requests`}>all requests</a>
      </p>
      <form method="get" action={`${at}/find`} class="find">
        <label>
          Find a request by shadow id <input name="shadowId" required maxLength={200} />
        </label>{' '}
        <button type="submit">Open</button>
      </form>
      {reevaluated ? (
        <p class="flash">
          Re-evaluated {reevaluated.count} request(s) under the current rules; {reevaluated.changed} changed verdict.
        </p>
      ) : null}
      <form method="post" action={`${at}/reevaluate`} id="reevaluate">
        <button type="submit">Re-evaluate with the current rules</button> <span class="muted">{rules ? `rules v${rules.version}: ${rules.reason} (${rules.author})` : 'no rules stored for this run'}</span>
      </form>
    </>,
  );
}
