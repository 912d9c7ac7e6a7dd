// A run's differences: grouped by route, target and field, with probable causes, links to the
// requests behind each group, and "mark as expected".
import type { ExamplePair } from '../../compare/engine';
import { CAUSE_SAMPLE, type ProbableCause } from '../causes';
import type { DifferenceFilter } from '../params';
import type { DifferenceGroup, Differences } from '../queries';
import { Head, pct, u } from '../render/parts';
import { short } from '../render/text';
import { pageHtml } from './page';
import { Crumbs, ExpectedForm, FilterForm } from './parts';

export interface DifferencesPage {
  runId: string;
  filter: DifferenceFilter;
  found: Differences;
  causes: ProbableCause[];
  /** Rules version just saved by "mark as expected". */
  marked?: string | undefined;
}

export function differencesPage({ runId, filter, found, causes, marked }: DifferencesPage): string {
  const { route } = filter;
  const { groups, scanned, truncated, routes } = found;
  const at = `/runs/${u(runId)}`;
  const window = `${filter.since ? `&since=${u(filter.since)}` : ''}${filter.until ? `&until=${u(filter.until)}` : ''}`;
  const requestsOf = (g: DifferenceGroup) => `${at}/requests?route=${u(g.route)}&target=${u(g.target)}&field=${u(g.field)}${window}`;
  return pageHtml(
    `${runId} differences`,
    <>
      <Crumbs run={runId}>differences{route ? ` on ${route}` : ''}</Crumbs>
      <h1>Differences{route ? ` — ${route}` : ''}</h1>
      <FilterForm action={`${at}/differences`} f={filter} routes={routes} what="differences" />
      {scanned !== undefined ? (
        <p class="muted" id="window">
          Counted over {scanned} request(s) compared in the window{truncated ? ` (the first ${scanned}: narrow the window for the rest)` : ''}.
        </p>
      ) : null}
      {causes.length ? (
        <>
          <h2>Probable causes</h2>
          <p class="muted">Differences that always occur together in the same requests (of the latest {CAUSE_SAMPLE} that did not match) are likely one bug.</p>
          <ul id="causes">
            {causes.map((c) => (
              <li>
                <strong>{c.requests} request(s)</strong> on {c.route}:{' '}
                {c.fields.map((f, i) => (
                  <>
                    {i ? ' + ' : ''}
                    <code>{f}</code>
                  </>
                ))}{' '}
                — e.g. <a href={`${at}/requests/${u(c.example)}`}>{c.example}</a>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {marked ? (
        <p class="flash">
          Saved as rules v{marked}. New comparisons use it within seconds; <a href={at}>re-evaluate</a> to apply it to this run.
        </p>
      ) : null}
      {groups.length ? (
        <table id="differences">
          <Head cols={['route', 'severity', 'kind', 'target', 'field', 'e.g. legacy → candidate', { n: 'requests' }, { n: 'rate' }, 'flags', 'examples', 'expected?']} />
          <tbody>
            {groups.map((g) => (
              <tr>
                <td>{g.route}</td>
                <td class={`sev-${g.severity}`}>{g.severity}</td>
                <td>{g.kind}</td>
                <td>
                  <code>{g.target}</code>
                </td>
                <td>
                  <code>{g.field || '(whole effect)'}</code>
                </td>
                <td class="pair">{g.example ? <ExamplePairCell pair={g.example} /> : null}</td>
                <td class="n">
                  <a class="all" href={requestsOf(g)}>
                    {g.count}
                  </a>
                </td>
                <td class="n">{pct(g.rate)}</td>
                <td>
                  {g.suggestedNoise ? <span class="badge not-enough-data">suggested noise</span> : null} {g.preStateDiffers ? <span class="muted">pre-state differs in {g.preStateDiffers}</span> : null}{' '}
                  {g.consumers?.length ? (
                    <span class="consumers">
                      read by{' '}
                      {g.consumers.map((n, i) => (
                        <>
                          {i ? ', ' : ''}
                          <a href={`${at}/consumers/${u(n)}`}>{n}</a>
                        </>
                      ))}
                    </span>
                  ) : g.unread ? (
                    <span class="muted">no consumer reads it</span>
                  ) : null}
                </td>
                <td>
                  {g.examples.map((e, i) => (
                    <>
                      {i ? ' ' : ''}
                      <a class="example" href={`${at}/requests/${u(e)}`}>
                        {e}
                      </a>
                    </>
                  ))}
                </td>
                <td>
                  <ExpectedForm runId={runId} route={route} g={g} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No differences.</p>
      )}
    </>,
  );
}

/** The group's example values, as the terminal summary shows them; absent sides say so. */
function ExamplePairCell({ pair }: { pair: ExamplePair }) {
  return (
    <>
      <code class="legacy">{'legacy' in pair ? short(pair.legacy) : '(absent)'}</code> → <code class="candidate">{'candidate' in pair ? short(pair.candidate) : '(absent)'}</code>
    </>
  );
}
