// One replay run from start to verdict, with nothing installed: an HTTP collector the services'
// SDKs post to, the embedded bus and store, a comparator worker, the replay itself, then the
// wait for every replayed request to be compared and the evaluation against the gates.
// Comparisons are evaluated as they are stored; matches are not kept, so memory stays flat.
// RabbitMQ/MongoDB can stand in for the embedded pieces (runtime chosen by the caller).
import { type Collector, startCollector } from '../capture/collector';
import type { Comparison, CompiledRules } from '../compare/engine';
import { Worker } from '../pipeline/worker';
import { ShadowdiffError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { Bus } from '../runtime/bus/bus';
import type { PutResult, Store } from '../runtime/store/store';
import { replay, type ReplayOptions, type ReplayProgress, type ReplaySummary } from './engine';
import type { RecordedRequest } from './recording';
import type { AcceptEntry } from '../compare/accept';
import { Evaluator, type Gates, type ReplayResult } from '../compare/readiness';

export interface SessionOptions extends Omit<ReplayOptions, 'publish'> {
  bus: Bus;
  store: Store;
  /** Where the collector listens (the services' SHADOWDIFF_SINK points here). */
  collectorHost: string;
  collectorPort: number;
  rules?: CompiledRules | undefined;
  gates: Gates;
  accept?: AcceptEntry[];
  /** How long a request may wait for its records before it is compared as incomplete. */
  compareTimeoutMs?: number;
  onCollector?: (url: string) => void;
  logger: Logger;
  /** Share of replayed requests that may answer 401/403 on both sides before the gates fail (default 0). */
  maxUnauthorizedRate?: number | undefined;
}

const MAX_BACKLOG = 10_000;

export interface SessionResult {
  summary: ReplaySummary;
  result: ReplayResult;
  collectorUrl: string;
}

export async function runSession(requests: AsyncIterable<RecordedRequest>, o: SessionOptions): Promise<SessionResult> {
  const compareTimeoutMs = o.compareTimeoutMs ?? 10_000;
  const evaluator = new Evaluator(o.runId, o.accept ?? []);
  /** Comparisons in which each side's SDK ended its request: none at all means it is not there. */
  const ended = { legacy: 0, candidate: 0 };
  const store = tallying(o.store, o.runId, (c) => {
    evaluator.add(c);
    if (c.sides.legacy.ended) ended.legacy += 1;
    if (c.sides.candidate.ended) ended.candidate += 1;
  });
  const worker = new Worker({ bus: o.bus, store, logger: o.logger, settleMs: 100, timeoutMs: compareTimeoutMs, keepEffects: 'non-match', alerts: false, recentMax: 20_000, rules: o.rules });
  await worker.start();
  let collector: Collector | undefined;
  try {
    try {
      collector = await startCollector({ bus: o.bus, logger: o.logger, host: o.collectorHost, port: o.collectorPort });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ShadowdiffError('SHADOWDIFF_USAGE', `the collector cannot listen on ${o.collectorHost}:${o.collectorPort} (${code ?? (err as Error).message}): choose another --collector and point the services' SHADOWDIFF_SINK at it.`);
    }
    o.onCollector?.(collector.url);
    await o.store.putRun({ runId: o.runId, createdAt: new Date().toISOString(), source: 'replay' });
    // The embedded bus takes whatever is published: the replay waits when the comparisons fall
    // behind by more than MAX_BACKLOG requests, so memory holds a bounded backlog, not the run.
    let lastCount = 0;
    let lastMoved = Date.now();
    const ready = async (sent: number) => {
      while (sent - evaluator.count > MAX_BACKLOG && !o.signal?.aborted) {
        if (evaluator.count !== lastCount) [lastCount, lastMoved] = [evaluator.count, Date.now()];
        else if (Date.now() - lastMoved > compareTimeoutMs + 30_000) {
          throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `comparisons stopped: none for ${Math.round((Date.now() - lastMoved) / 1000)} s with ${sent - evaluator.count} requests waiting (is the store or the bus reachable?).`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const summary = await replay(requests, { ...o, publish: (records) => o.bus.publish(records), ready });
    if (summary.sent > 0 && summary.errors === summary.sent && summary.firstError !== undefined) {
      throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `no replayed request got an answer (first: ${summary.firstError}): is the service at ${o.legacy && summary.firstError.startsWith('legacy') ? o.legacy : o.candidate} running?`);
    }
    if (summary.skipped) await o.store.addCoverage(o.runId, summary.skippedBy);
    // Every request sent gets exactly one comparison: complete, or incomplete after the timeout.
    const deadline = Date.now() + compareTimeoutMs + 5_000;
    while ((await store.countComparisons(o.runId)) < summary.sent && Date.now() < deadline) {
      o.onProgress?.({ ...summary, inFlight: 0 } as ReplayProgress);
      await new Promise((r) => setTimeout(r, 100));
    }
    await worker.drain();
    await o.store.flushRollups(o.runId);
    if (!o.legacy && summary.sent > 0 && summary.withoutLegacy === summary.sent) {
      throw new ShadowdiffError(
        'SHADOWDIFF_USAGE',
        `the recording holds no legacy response or records for any of its ${summary.sent} request(s), so a baseline replay has nothing to compare the candidate with (a GoReplay file captured without --input-raw-track-response?). Replay with --legacy URL to compare with a running legacy, or capture with --input-raw-track-response.`,
      );
    }
    const expected: ('candidate' | 'legacy')[] = o.sdk === false || summary.sent === 0 ? [] : o.legacy ? ['candidate', 'legacy'] : ['candidate'];
    const silent = expected.filter((side) => ended[side] === 0);
    if (silent.length) {
      throw new ShadowdiffError(
        'SHADOWDIFF_USAGE',
        `no SDK record arrived from the ${silent.join(' or the ')} for any of the ${summary.sent} replayed request(s): the service${silent.length > 1 ? 's do' : ' does'} not seem to run the shadowdiff SDK with its SHADOWDIFF_SINK at this replay's collector (${collector.url}). Point the sink there, or replay with --no-sdk to compare responses only.`,
        { sides: silent },
      );
    }
    const result = evaluator.result(summary.sent, o.gates);
    const allowed = o.maxUnauthorizedRate ?? 0;
    if (summary.unauthorized > allowed * summary.sent) {
      result.failures.push(
        `${summary.unauthorized} of ${summary.sent} request(s) answered 401/403 on both sides: nothing behind the login was tested. Give the replayed requests credentials (--header 'authorization: Bearer $TOKEN', or --rewrite FILE for per-request tokens), or allow it with --max-unauthorized-rate`,
      );
      result.passed = false;
    }
    return { summary, result, collectorUrl: collector.url };
  } finally {
    await worker.stop();
    await collector?.close();
  }
}

/**
 * The store as the replay's worker sees it: every comparison of the run is folded into the
 * evaluation as it is stored; only those that did not match are kept in the store (for the
 * report), so a million-request replay holds counts, not comparisons.
 */
function tallying(inner: Store, runId: string, counted: (c: Comparison) => void): Store {
  // The worker compares each request once (it remembers what it compared lately, and the
  // embedded bus does not redeliver), so a count suffices; a set of ids would grow with the run.
  let count = 0;
  const putComparisons = async (comparisons: readonly Comparison[]): Promise<PutResult> => {
    const keep = comparisons.filter((c) => c.runId !== runId || c.verdict !== 'match');
    if (keep.length) await inner.putComparisons(keep);
    // Counted only once the write went through: a retried batch is counted once.
    for (const c of comparisons) {
      if (c.runId !== runId) continue;
      count += 1;
      counted(c);
    }
    return { inserted: comparisons.length, existing: 0 };
  };
  const countComparisons = async (id: string) => (id === runId ? count : inner.countComparisons(id));
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'putComparisons') return putComparisons;
      if (prop === 'countComparisons') return countComparisons;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
