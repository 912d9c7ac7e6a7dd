// A run's requests as a recording: for each comparison, the exchange the proxy recorded and
// legacy's records, written as JSONL (replay/recording.ts) for `shadowdiff replay`.
import type { SideRecord } from '../core/effect';
import { eachComparison, type Store } from '../runtime/store/store';
import { writeRequest } from './recording';

export interface ExportQuery {
  runId: string;
  /** Only this route, as reports show it. */
  route?: string | undefined;
  /** Only requests compared at or after this instant (epoch ms). */
  since?: number | undefined;
  /** At most this many requests. */
  limit?: number | undefined;
}

export interface ExportCounts {
  written: number;
  /** Compared, but no exchange kept (recorded without a proxy, or not kept by the worker). */
  noExchange: number;
  /** Written without legacy records: replayed, they compare responses only. */
  noLegacy: number;
}

export async function exportRun(store: Store, q: ExportQuery, out: NodeJS.WritableStream): Promise<ExportCounts> {
  const counts: ExportCounts = { written: 0, noExchange: 0, noLegacy: 0 };
  for await (const c of eachComparison(store, { runId: q.runId, route: q.route }, 500)) {
    if (q.since !== undefined && Date.parse(c.comparedAt) < q.since) continue;
    const exchange = await store.getExchange(q.runId, c.shadowId);
    if (!exchange) {
      counts.noExchange += 1;
      continue;
    }
    const legacy = (await store.getEffects(q.runId, c.shadowId)).filter((r): r is SideRecord => r.side === 'legacy');
    if (!legacy.length) counts.noLegacy += 1;
    await writeRequest(out, { exchange: { v: 1, type: 'exchange', ...exchange }, legacy });
    counts.written += 1;
    if (q.limit && counts.written >= q.limit) break;
  }
  return counts;
}
