// One mirror target (the candidate, or a secondary legacy): its own keep-alive pool, a cap on
// mirrors in flight, a timeout, and a circuit breaker, so a target that is down, slow or
// black-holed costs the proxy a counter increment per request and nothing more. Responses are
// always read to the end (a discarded body left unread stalls the pool) and kept only when
// an exchange is recorded.
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
  /** The body was over the recording cap: not kept. */
  truncated?: boolean;
  ms: number;
  /** Why there is no response: refused, timed out after …, reset, … */
  error?: string;
}

export interface MirrorOptions {
  timeoutMs: number;
  maxInFlight: number;
  breakerFailures: number;
  breakerOpenMs: number;
  /** Bytes of response body kept for the exchange; 0 keeps none. */
  keepBodyBytes: number;
}

type BreakerState = 'closed' | 'open' | 'half-open';
const STATE_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, 'half-open': 2 };

/** Consecutive failures open the circuit; after a pause one probe decides whether it closes. */
export class Breaker {
  private state: BreakerState = 'closed';
  private failures = 0;
  private openUntil = 0;
  private probing = false;

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly onChange: (state: BreakerState) => void = () => {},
  ) {}

  get current(): BreakerState {
    return this.state;
  }

  allow(now: number): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (now < this.openUntil) return false;
      this.set('half-open');
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  /** A probe that was granted but never sent. */
  release(): void {
    this.probing = false;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    if (this.state !== 'closed') this.set('closed');
  }

  failure(now: number): void {
    this.probing = false;
    this.failures += 1;
    if (this.state === 'half-open' || this.failures >= this.threshold) {
      this.openUntil = now + this.openMs;
      if (this.state !== 'open') this.set('open');
    }
  }

  private set(state: BreakerState): void {
    this.state = state;
    this.onChange(state);
  }
}

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
    this.breaker = new Breaker(o.breakerFailures, o.breakerOpenMs, (s) => gauge.set(STATE_VALUE[s]));
    this.gauge = metrics.inFlight.labels(name);
  }

  private readonly gauge: { set(v: number): void };

  /** The mirror `refuse` allowed will not be sent after all. */
  releaseProbe(): void {
    this.breaker.release();
  }

  /** Why this target cannot take a mirror now, or undefined when it can. */
  refuse(now: number): 'mirror-busy' | 'circuit-open' | undefined {
    if (this.inFlight >= this.o.maxInFlight) return 'mirror-busy';
    if (!this.breaker.allow(now)) return 'circuit-open';
    return undefined;
  }

  /** Sends one mirror (call `refuse` first); never rejects. */
  send(request: MirrorRequest, keep: boolean): Promise<MirrorResult> {
    this.inFlight += 1;
    this.gauge.set(this.inFlight);
    this.metrics.mirror(this.name);
    const started = performance.now();
    return new Promise<MirrorResult>((resolve) => {
      let done = false;
      let controller: Dispatcher.DispatchController | undefined;
      const finish = (result: Omit<MirrorResult, 'ms'>, failed: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.inFlight -= 1;
        this.gauge.set(this.inFlight);
        const ms = performance.now() - started;
        if (failed) this.breaker.failure(Date.now());
        else this.breaker.success();
        this.metrics.mirrorDone(this.name, ms / 1000, result.error === undefined ? undefined : errorLabel(result.error));
        resolve({ ...result, ms: Math.round(ms * 10) / 10 });
      };
      const timer = setTimeout(() => {
        finish({ error: `timed out after ${this.o.timeoutMs} ms` }, true);
        controller?.abort(new Error('mirror timed out'));
      }, this.o.timeoutMs);
      let status: number | undefined;
      let headers: Record<string, string | string[] | undefined> | undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          if (done) c.abort(new Error('mirror timed out'));
        },
        onResponseStart(_c, statusCode, h) {
          if (statusCode < 200) return;
          status = statusCode;
          headers = h as Record<string, string | string[] | undefined>;
        },
        onResponseData: (_c, chunk) => {
          if (!keep || truncated) return;
          size += chunk.length;
          if (size > this.o.keepBodyBytes) {
            truncated = true;
            chunks.length = 0;
          } else chunks.push(chunk);
        },
        onResponseEnd() {
          const result: Omit<MirrorResult, 'ms'> = { status: status ?? 0 };
          if (headers) result.headers = headers;
          if (keep) result.chunks = chunks;
          if (truncated) result.truncated = true;
          finish(result, false);
        },
        onResponseError(_c, err) {
          finish({ error: describeError(err) }, true);
        },
      };
      try {
        this.pool.dispatch({ path: request.path, method: request.method, headers: request.headers, body: request.body }, handler);
      } catch (err) {
        finish({ error: describeError(err as Error) }, true);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.destroy().catch(() => undefined);
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
