// One mirror target (the candidate, or a secondary legacy): its own keep-alive pool, a cap on
// mirrors in flight, a timeout, and a circuit breaker, so a target that is down, slow or
// black-holed costs the proxy a counter increment per request and nothing more. A response
// slower than `slowMs`, or cut at `maxResponseBytes`, counts against the breaker like a failure
// (a cost budget), and after a trip mirrors are re-admitted gradually. Responses are read to
// the end (a discarded body left unread stalls the pool) up to `maxResponseBytes`; past it the
// mirror stops reading and closes its connection, and the response is recorded as truncated.
import { BodyPrefix } from '../../core/body';
import { Breaker, type BreakerState } from '../../core/circuit-breaker';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { ProxyMetrics, TargetName } from './metrics';

export interface MirrorRequest {
  method: string;
  path: string;
  /** Flat [name, value, …] list, shadow headers included. */
  headers: string[];
  body: Buffer | null;
}

export interface MirrorResult {
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  chunks?: Buffer[];
  /** The body was over the recording cap: only its first bytes are kept, for a hash. */
  truncated?: boolean;
  /** The mirror stopped reading the body past `maxResponseBytes`. */
  cut?: boolean;
  ms: number;
  /** Why there is no response: refused, timed out after …, reset, … */
  error?: string;
}

export interface MirrorOptions {
  timeoutMs: number;
  maxInFlight: number;
  breakerFailures: number;
  breakerOpenMs: number;
  /** A response taking longer than this counts against the breaker, though it succeeded. */
  slowMs: number;
  /** Bytes of a response body the mirror reads; past it the mirror stops and closes the connection. */
  maxResponseBytes: number;
  /** Bytes of response body kept for the exchange; 0 keeps none. */
  keepBodyBytes: number;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, 'half-open': 2 };

export class MirrorTarget {
  readonly pool: Pool;
  readonly breaker: Breaker;
  private inFlight = 0;

  constructor(
    readonly name: TargetName,
    readonly origin: string,
    private readonly o: MirrorOptions,
    private readonly metrics: ProxyMetrics,
  ) {
    this.pool = new Pool(origin, {
      connections: o.maxInFlight,
      pipelining: 1,
      connect: { timeout: o.timeoutMs },
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      keepAliveTimeout: 4_000,
    });
    const gauge = metrics.breaker.labels(name);
    this.breaker = new Breaker(o.breakerFailures, o.breakerOpenMs, (s) => gauge.set(STATE_VALUE[s]), o.breakerOpenMs);
    this.gauge = metrics.inFlight.labels(name);
  }

  private readonly gauge: { set(v: number): void };

  /** The mirror `refuse` allowed will not be sent after all. */
  releaseProbe(): void {
    this.breaker.release();
  }

  /** Why this target cannot take a mirror now, or undefined when it can. */
  refuse(now: number): 'mirror-busy' | 'circuit-open' | 'circuit-recovering' | undefined {
    if (this.inFlight >= this.o.maxInFlight) return 'mirror-busy';
    if (!this.breaker.allow(now)) return 'circuit-open';
    // Just recovered: a growing share of maxInFlight, from one mirror at a time up to all of it.
    const share = this.breaker.share(now);
    if (share < 1 && this.inFlight >= Math.max(1, Math.floor(this.o.maxInFlight * share))) return 'circuit-recovering';
    return undefined;
  }

  /** Sends one mirror (call `refuse` first); `done` gets the result, never an exception. */
  send(request: MirrorRequest, keep: boolean, done: (result: MirrorResult) => void): void {
    this.inFlight += 1;
    this.gauge.set(this.inFlight);
    this.metrics.mirror(this.name);
    const call = new MirrorCall(this, keep ? this.o.keepBodyBytes : -1, this.o.maxResponseBytes, done);
    this.calls.add(call);
    this.sweeper ??= setInterval(() => this.sweep(), Math.min(100, this.o.timeoutMs)).unref();
    try {
      this.pool.dispatch({ path: request.path, method: request.method, headers: request.headers, body: request.body }, call);
    } catch (err) {
      call.fail(describeError(err as Error));
    }
  }

  // One timer per target, not one per mirror: at thousands of mirrors a second, creating and
  // clearing a timer each is a cost of its own. Timeouts fire within a tick of the sweep.
  private readonly calls = new Set<MirrorCall>();
  private sweeper: NodeJS.Timeout | undefined;

  private sweep(): void {
    const expired = performance.now() - this.o.timeoutMs;
    for (const call of this.calls) {
      // Insertion order is start order: the first one still in time ends the sweep.
      if (call.started > expired) break;
      call.timeout(this.o.timeoutMs);
    }
    if (this.calls.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** @internal */
  finished(call: MirrorCall, result: MirrorResult, failed: boolean): void {
    this.calls.delete(call);
    this.inFlight -= 1;
    this.gauge.set(this.inFlight);
    // Slow, or too big to read whole, counts as failed for the breaker (not for the comparison:
    // the response is recorded). Cutting alone would not bound the cost: shorter mirrors only
    // make room for more of them, each reading as fast as the candidate streams.
    const slow = !failed && result.ms > this.o.slowMs;
    if (failed || slow || result.cut) this.breaker.failure(Date.now());
    else this.breaker.success(Date.now());
    this.metrics.mirrorDone(this.name, result.ms / 1000, result.error === undefined ? undefined : errorLabel(result.error), { slow, cut: result.cut === true });
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.pool.destroy().catch(() => undefined);
  }
}

/** One mirror in flight: undici's handler for it, read to the end or `maxRead` bytes, kept up to `keep` bytes (-1: none). */
class MirrorCall implements Dispatcher.DispatchHandler {
  readonly started = performance.now();
  private controller: Dispatcher.DispatchController | undefined;
  private done = false;
  private status = 0;
  private headers: Record<string, string | string[] | undefined> | undefined;
  private readonly kept: BodyPrefix | undefined;
  private read = 0;

  constructor(
    private readonly target: MirrorTarget,
    private readonly keep: number,
    private readonly maxRead: number,
    private readonly callback: (result: MirrorResult) => void,
  ) {
    if (keep >= 0) this.kept = new BodyPrefix(keep);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.done) controller.abort(new Error('mirror timed out'));
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    if (this.keep >= 0) this.headers = headers;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    this.read += chunk.length;
    if (this.read > this.maxRead) {
      // A big body, often slowly streamed: reading it all costs the proxy what the primary
      // needs. Stop here and close the connection (a body left unread would hold it).
      this.cut();
      controller.abort(new Error('mirror response over mirror.maxResponseBytes'));
      return;
    }
    // Over the recording cap only its first `keep` bytes stay, for the hash the exchange records.
    this.kept?.add(chunk);
  }

  private cut(): void {
    const result: MirrorResult = { status: this.status, ms: this.elapsed(), truncated: true, cut: true };
    if (this.headers) result.headers = this.headers;
    if (this.kept) result.chunks = this.kept.chunks;
    this.end(result, false);
  }

  onResponseEnd(): void {
    const result: MirrorResult = { status: this.status, ms: this.elapsed() };
    if (this.headers) result.headers = this.headers;
    if (this.kept) result.chunks = this.kept.chunks;
    if (this.kept?.truncated) result.truncated = true;
    this.end(result, false);
  }

  onResponseError(_c: Dispatcher.DispatchController | undefined, err: Error): void {
    this.fail(describeError(err));
  }

  fail(error: string): void {
    this.end({ error, ms: this.elapsed() }, true);
  }

  timeout(ms: number): void {
    this.fail(`timed out after ${ms} ms`);
    this.controller?.abort(new Error('mirror timed out'));
  }

  private elapsed(): number {
    return Math.round((performance.now() - this.started) * 10) / 10;
  }

  private end(result: MirrorResult, failed: boolean): void {
    if (this.done) return;
    this.done = true;
    this.target.finished(this, result, failed);
    this.callback(result);
  }
}

/** A short, stable reason for an upstream failure, for logs and comparisons. */
export function describeError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const cause = (err as { cause?: NodeJS.ErrnoException }).cause?.code ?? '';
  const any = `${code} ${cause}`;
  if (any.includes('ECONNREFUSED')) return 'connection refused';
  if (any.includes('ECONNRESET') || any.includes('UND_ERR_SOCKET') || any.includes('EPIPE')) return 'connection reset';
  if (any.includes('UND_ERR_CONNECT_TIMEOUT')) return 'connect timed out';
  if (any.includes('UND_ERR_HEADERS_TIMEOUT')) return 'timed out waiting for the response headers';
  if (any.includes('UND_ERR_BODY_TIMEOUT')) return 'timed out reading the response body';
  if (any.includes('ENOTFOUND') || any.includes('EAI_AGAIN')) return 'host not found';
  return (err.message || code || 'error').slice(0, 200);
}

function errorLabel(error: string): string {
  if (error.includes('timed out')) return 'timeout';
  if (error.includes('refused')) return 'refused';
  if (error.includes('reset')) return 'reset';
  if (error.includes('not found')) return 'dns';
  return 'other';
}
