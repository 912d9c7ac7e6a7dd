// The consumers of a run's data: one line each with its readiness, and a page per consumer with
// the fields it reads, the routes its data comes from and the differences that touch it — what
// the team that owns it looks at before it signs off.
import type { ConsumerResult } from '../../compare/readiness';
import { Badge, ConsumersTable, Head, show, u } from '../render/parts';
import { pageHtml } from './page';
import { Crumbs } from './parts';

export function consumersPage({ runId, consumers }: { runId: string; consumers: readonly ConsumerResult[] }): string {
  const at = `/runs/${u(runId)}/consumers`;
  return pageHtml(
    `${runId} consumers`,
    <>
      <Crumbs run={runId}>consumers</Crumbs>
      <h1>Consumers</h1>
      {consumers.length ? (
        <ConsumersTable consumers={consumers} href={(name) => `${at}/${u(name)}`} />
      ) : (
        <p class="muted">
          No consumers are declared for this run. Declare who reads the data in a consumers file (docs/consumers.md) and start the workers and <code>serve</code> with <code>--consumers</code>.
        </p>
      )}
    </>,
  );
}

export function consumerPage({ runId, consumer: c }: { runId: string; consumer: ConsumerResult }): string {
  const run = `/runs/${u(runId)}`;
  return pageHtml(
    `${c.name} — ${runId}`,
    <>
      <Crumbs run={runId}>
        <a href={`${run}/consumers`}>consumers</a> / {c.name}
      </Crumbs>
      <h1>
        {c.name} <Badge of={c.readiness} />
      </h1>
      <p>
        Owner: {c.owner}
        {c.contact ? <> · contact: {c.contact}</> : null}
        {c.critical ? (
          <>
            {' '}
            · <span class="sev-critical">critical</span>: a difference on a field it reads is critical and alerts at once
          </>
        ) : null}
      </p>
      <p class="muted">{c.why}.</p>
      <h2>What it reads</h2>
      <table id="reads">
        <Head cols={['target', 'kind', 'fields', 'schema']} />
        <tbody>
          {c.reads.map((r) => (
            <tr>
              <td>
                <code>{r.target}</code>
              </td>
              <td>{r.kind ?? 'any'}</td>
              <td>{r.paths.join(', ')}</td>
              <td>{r.schema ? 'checked against its schema' : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Routes that write it</h2>
      {c.routes.length ? (
        <table id="routes">
          <Head cols={['route', { n: 'complete comparisons' }, 'route readiness']} />
          <tbody>
            {c.routes.map((r) => (
              <tr>
                <td>{r.route}</td>
                <td class="n">{r.compared}</td>
                <td>{r.readiness ? <Badge of={r.readiness} /> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No compared request has written what it reads yet.</p>
      )}
      <h2>Differences on its fields</h2>
      {c.findings.length ? (
        <table id="differences">
          <Head cols={['route', 'severity', 'kind', 'target', 'field', 'e.g. legacy → candidate', { n: 'requests' }, 'example']} />
          <tbody>
            {c.findings.map((g) => (
              <tr class={g.accepted ? 'accepted' : ''}>
                <td>{g.route}</td>
                <td class={`sev-${g.severity}`}>{g.accepted ? `accepted: ${g.accepted}` : g.severity}</td>
                <td>{g.kind}</td>
                <td>
                  <code>{g.target}</code>
                </td>
                <td>
                  <code>{g.field}</code>
                </td>
                <td class="pair">
                  <code class="legacy">{g.legacy === undefined ? '(absent)' : show(g.legacy, 80)}</code> → <code class="candidate">{g.candidate === undefined ? '(absent)' : show(g.candidate, 80)}</code>
                </td>
                <td class="n">{g.requests}</td>
                <td>{g.example ? <a href={`${run}/requests/${u(g.example)}`}>{g.example}</a> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">None.</p>
      )}
    </>,
  );
}
