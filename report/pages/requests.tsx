// A page of a run's requests (comparisons), filtered, a page at a time by shadow id.
import type { Comparison } from '../../compare/engine';
import type { DifferenceFilter } from '../params';
import { Badge, Head, u } from '../render/parts';
import { pageHtml } from './page';
import { Crumbs, FilterForm } from './parts';

export interface RequestsPage {
  runId: string;
  filter: DifferenceFilter & { verdict?: string; value?: string };
  routes: string[];
  items: Comparison[];
  nextUrl?: string | undefined;
}

/** A comparison's differences in a line: `target field` of its first findings. */
export function summary(c: Comparison): string {
  if (c.verdict === 'incomplete') return (c.incomplete ?? []).join('; ');
  if (c.verdict === 'inconclusive') return (c.inconclusive ?? []).join('; ');
  if (c.verdict === 'error') return c.error ?? '';
  const fields = [...new Set(c.findings.map((f) => `${f.target} ${f.field || '(whole effect)'}`))];
  return fields.length > 3 ? `${fields.slice(0, 3).join(', ')} and ${fields.length - 3} more` : fields.join(', ');
}

export function requestsPage({ runId, filter, routes, items, nextUrl }: RequestsPage): string {
  const at = `/runs/${u(runId)}`;
  return pageHtml(
    `${runId} requests`,
    <>
      <Crumbs run={runId}>requests</Crumbs>
      <h1>Requests</h1>
      <FilterForm action={`${at}/requests`} f={filter} routes={routes} what="requests" />
      {items.length ? (
        <table id="requests">
          <Head cols={['shadow id', 'route', 'verdict', 'differences', 'compared at']} />
          <tbody>
            {items.map((c) => (
              <tr>
                <td>
                  <a href={`${at}/requests/${u(c.shadowId)}`}>
                    <code>{c.shadowId}</code>
                  </a>
                </td>
                <td>{c.route}</td>
                <td>
                  <Badge of={c.verdict === 'match' ? 'ready' : 'not-ready'}>{c.verdict}</Badge>
                </td>
                <td>{summary(c)}</td>
                <td>{c.comparedAt}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No requests match.</p>
      )}
      {nextUrl ? (
        <p>
          <a id="next" href={nextUrl}>
            next page →
          </a>
        </p>
      ) : null}
    </>,
  );
}
