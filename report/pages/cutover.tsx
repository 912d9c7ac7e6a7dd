// A run's cutover (docs/cutover.md): the ramp's timeline — each step with its share and what it
// served and compared, each hold of a gate, each rollback with its evidence and links to the
// requests it names — and the live share per route as the comparisons saw it.
import type { RouteRollup } from '../../compare/engine';
import type { CutoverEvent } from '../../runtime/store/store';
import { Head, show, u } from '../render/parts';
import { pageHtml } from './page';
import { Crumbs } from './parts';

const KIND_TEXT: Record<CutoverEvent['kind'], string> = { step: 'step', hold: 'held by a gate', rollback: 'ROLLED BACK', done: 'plan done', stopped: 'plan stopped' };

export function cutoverPage({ runId, events, routes }: { runId: string; events: readonly CutoverEvent[]; routes: readonly RouteRollup[] }): string {
  const run = `/runs/${u(runId)}`;
  const served = routes.filter((r) => r.served?.[0]);
  const rollbacks = events.filter((e) => e.kind === 'rollback');
  return pageHtml(
    `${runId} cutover`,
    <>
      <Crumbs run={runId}>cutover</Crumbs>
      <h1>Cutover</h1>
      {events.length === 0 && served.length === 0 ? (
        <p class="muted">
          No cutover in this run: the candidate served no request live. Set a live share with <code>shadowdiff cutover --admin URL --route R --percent N --reason …</code> or run a plan with <code>--plan</code> (docs/cutover.md).
        </p>
      ) : null}
      {served.length ? (
        <>
          <h2>Served by the candidate</h2>
          <table id="served">
            <Head cols={['route', 'served live', 'of them wrong', 'all compared', 'mismatched or failed']} />
            <tbody>
              {served.map((r) => (
                <tr>
                  <td>
                    <code>{r.route}</code>
                  </td>
                  <td>{r.served![0]}</td>
                  <td class={r.served![1] ? 'sev-critical' : ''}>{r.served![1]}</td>
                  <td>{r.compared}</td>
                  <td>{(r.verdicts.mismatch ?? 0) + (r.verdicts.error ?? 0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {served.some((r) => r.served![1]) ? (
            <p>
              What the candidate stored wrong, and the guarded updates that repair it: <code>shadowdiff corrections --run {runId}</code>.
            </p>
          ) : null}
        </>
      ) : null}
      {events.length ? (
        <>
          <h2>Timeline</h2>
          <table id="timeline">
            <Head cols={['at', 'what', 'route', 'share', 'by', 'why', 'the step before it']} />
            <tbody>
              {events.map((e) => (
                <tr class={e.kind === 'rollback' ? 'sev-critical' : ''}>
                  <td>{e.at}</td>
                  <td>
                    {KIND_TEXT[e.kind]}
                    {e.step ? ` ${e.step.index}/${e.step.of}` : ''}
                  </td>
                  <td>
                    <code>{e.route}</code>
                  </td>
                  <td>{e.percent}%</td>
                  <td>{e.by}</td>
                  <td>{e.reason}</td>
                  <td>{e.ended ? `${e.ended.percent}% since ${e.ended.startedAt}: ${e.ended.compared} compared, ${e.ended.mismatched} mismatched, ${e.ended.served} served live (${e.ended.servedMismatched} wrong), ${e.ended.critical} critical` : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      {rollbacks.length ? (
        <>
          <h2>Rollbacks and their evidence</h2>
          {rollbacks.map((e) => {
            const ev = (e.evidence ?? {}) as { shadowIds?: string[]; findings?: { target: string; field: string; kind: string; severity: string; legacy?: unknown; candidate?: unknown }[] };
            return (
              <section class="rollback">
                <h3>
                  {e.at} · <code>{e.route}</code> by {e.by}
                </h3>
                <p>{e.reason}</p>
                {ev.findings?.length ? (
                  <table>
                    <Head cols={['target', 'field', 'kind', 'severity', 'legacy', 'candidate']} />
                    <tbody>
                      {ev.findings.map((f) => (
                        <tr>
                          <td>
                            <code>{f.target}</code>
                          </td>
                          <td>
                            <code>{f.field}</code>
                          </td>
                          <td>{f.kind}</td>
                          <td class={`sev-${f.severity}`}>{f.severity}</td>
                          <td>
                            <code>{show(f.legacy)}</code>
                          </td>
                          <td>
                            <code>{show(f.candidate)}</code>
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                ) : null}
                {ev.shadowIds?.length ? (
                  <p>
                    Requests:{' '}
                    {ev.shadowIds.map((id) => (
                      <>
                        <a href={`${run}/requests/${u(id)}`}>
                          <code>{id}</code>
                        </a>{' '}
                      </>
                    ))}
                  </p>
                ) : null}
              </section>
            );
          })}
        </>
      ) : null}
    </>,
  );
}
