// The front page: the runs this store holds.
import type { RunInfo } from '../../runtime/store/store';
import { Head, u } from '../render/parts';
import { pageHtml } from './page';

export function runsPage(runs: RunInfo[]): string {
  return pageHtml(
    'Runs',
    <>
      <h1>Runs</h1>
      {runs.length ? (
        <table>
          <Head cols={['run', 'source', 'created']} />
          <tbody>
            {runs.map((r) => (
              <tr>
                <td>
                  <a href={`/runs/${u(r.runId)}`}>{r.runId}</a>
                </td>
                <td>{r.source ?? ''}</td>
                <td>{r.createdAt}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No runs in this store yet.</p>
      )}
    </>,
  );
}
