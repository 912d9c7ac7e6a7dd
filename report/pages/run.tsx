// A run: its routes with their readiness and trend, links to what differs, and re-evaluation.
import type { ReevaluationJob, RunInfo, StoredRules } from '../../runtime/store/store';
import type { RouteOverview } from '../queries';
import { Badge, Head, pct, u } from '../render/parts';
import { notCompared, proxyLine } from '../coverage';
import { pageHtml } from './page';
import { Crumbs, Sparkline } from './parts';

export interface RunPage {
  run: RunInfo;
  routes: RouteOverview[];
  rules: StoredRules | undefined;
  /** The run's latest re-evaluation, running or ended. */
  job: ReevaluationJob | undefined;
}

export function runPage({ run, routes, rules, job }: RunPage): string {
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
                {r.unwired ? <p class="warning unwired">{r.unwired}</p> : null}
              </td>
              <td>
                <Badge of={r.readiness} />
                {r.needs ? <span class="muted needs"> {r.needs} more needed</span> : null}
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
        <a href={`${at}/differences`}>All differences</a> · <a href={`${at}/checklist`}>cutover checklist</a> · <a href={`${at}/consumers`}>consumers</a> · <a href={`${at}/cutover`}>cutover</a> · <a href={`${at}/requests?verdict=mismatch`}>mismatching requests</a> · <a href={`${at}/requests`}>all requests</a>
      </p>
      <form method="get" action={`${at}/find`} class="find">
        <label>
          Find a request by shadow id <input name="shadowId" required maxLength={200} />
        </label>{' '}
        <button type="submit">Open</button>
      </form>
      {job ? <JobLine job={job} at={at} /> : null}
      {job?.state === 'running' ? null : (
        <form method="post" action={`${at}/reevaluate`} id="reevaluate">
          <button type="submit">{job?.state === 'failed' ? 'Resume the re-evaluation' : 'Re-evaluate with the current rules'}</button>{' '}
          <span class="muted">{rules ? `rules v${rules.version}: ${rules.reason} (${rules.author})` : 'no rules stored for this run'}</span>
        </form>
      )}
    </>,
    // While a re-evaluation runs the page follows it: no script here, so a reload.
    { refreshSeconds: job?.state === 'running' ? 3 : undefined },
  );
}

function JobLine({ job, at }: { job: ReevaluationJob; at: string }) {
  const done = job.reevaluated + job.withoutRecords;
  const under = job.rulesVersion === null ? 'the base rules' : `rules v${job.rulesVersion}`;
  const counts = `${done} of ${job.total} non-matching request(s) done, ${job.changed} changed verdict${job.withoutRecords ? `, ${job.withoutRecords} without kept records (left as they were)` : ''}`;
  if (job.state === 'running') {
    return (
      <form method="post" action={`${at}/reevaluate/cancel`} id="reevaluation" class="flash">
        Re-evaluating under {under}: {counts}.{job.cancelRequested ? ' Stopping after this batch.' : ''} <button type="submit">Cancel</button>
      </form>
    );
  }
  const when = job.finishedAt ?? job.updatedAt;
  const what = job.state === 'done' ? 'Re-evaluated' : job.state === 'cancelled' ? 'Re-evaluation cancelled' : `Re-evaluation failed (${job.error ?? 'unknown error'}); it resumes where it stopped`;
  return (
    <p id="reevaluation" class={job.state === 'failed' ? 'flash bad' : 'flash'}>
      {what} under {under} at {when}: {counts}.
    </p>
  );
}
