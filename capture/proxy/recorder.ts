// Exchange records: for each mirrored request, the request and every side's response, redacted
// before they leave the proxy (design decision 11), queued on the same bounded outbox the SDK
// uses. Building a record happens after the client has its response; a full buffer or a dead
// sink drops records and counts them — it never slows the proxy.
import { type CoverageRecord, type ExchangeRecord, type ExchangeResponse, FORMAT_VERSION, type FormatVersion } from '../../core/effect';
import type { Logger } from '../../core/logger';
import { createRedactor, type RedactionConfig, type Redactor } from '../../core/redaction';
import { bodyValue } from '../../core/body';
import { compileRoutePattern, firstMatch, type RoutePattern } from '../../core/route-pattern';
import { rateLimitedLog } from '../sdk/safety';
import { type RecordSink, Transport, type TransportStats } from '../sdk/transport';
import type { ProxyMetrics } from './metrics';
import type { MirrorResult } from './mirror';

/** Credentials never go into a record, whatever the redaction settings say. */
const NEVER_RECORDED = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key']);

export interface RecorderOptions {
  runId: string;
  sdk: boolean;
  responseHeaders: string[];
  maxBodyBytes: number;
  redact: RedactionConfig;
  /** Routes whose unparsable bodies are kept as they are. */
  rawBodies?: readonly string[];
  maxBuffered: number;
  /** The effect format's version written (default FORMAT_VERSION; 1 for older workers). */
  format?: FormatVersion;
  logger: Logger;
  metrics: ProxyMetrics;
}

/** What the proxy gathered about one mirrored request. */
export interface Gathered {
  shadowId: string;
  at: string;
  method: string;
  path: string;
  route?: string;
  /** Request headers as received (flat raw list). */
  rawHeaders: string[];
  body: Buffer[];
  bodyTruncated: boolean;
  responses: Partial<Record<'legacy' | 'candidate' | 'secondary', MirrorResult>>;
  /** Cutover: the candidate served this request live, and legacy ran the mirror in dry-run. */
  served?: 'candidate';
}

export class Recorder {
  private readonly transport: Transport;
  private readonly coverageTransport: Transport;
  private readonly redactor: Redactor;
  private readonly responseHeaders: string[];
  private readonly rawBodies: RoutePattern[];
  private readonly digest: (bytes: Uint8Array) => string;
  /** Exchanges that could not even be built (counted with the transport's drops). */
  private readonly built = { dropped: 0 };

  constructor(
    sink: RecordSink,
    private readonly o: RecorderOptions,
  ) {
    this.redactor = createRedactor(o.redact);
    this.digest = (bytes) => this.redactor.digest(bytes);
    this.rawBodies = (o.rawBodies ?? []).map((r, i) => compileRoutePattern(r, `record.rawBodies.${i}`));
    this.responseHeaders = o.responseHeaders.map((h) => h.toLowerCase());
    this.transport = new Transport(sink, { maxRecords: o.maxBuffered, batchSize: 500, maxBackoffMs: 5_000, lingerMs: 5 }, rateLimitedLog(o.logger));
    // Coverage records on a queue of their own: the exchange counts (stats) stay exchanges only,
    // and a backlog of exchanges never holds up the totals.
    this.coverageTransport = new Transport(sink, { maxRecords: 100, batchSize: 10, maxBackoffMs: 5_000, lingerMs: 0 }, rateLimitedLog(o.logger));
  }

  record(g: Gathered): void {
    let record: ExchangeRecord;
    try {
      record = this.build(g);
    } catch (err) {
      this.built.dropped += 1;
      this.o.metrics.exchanges.labels('dropped').inc();
      this.o.logger.warn({ err: (err as Error).message, shadowId: g.shadowId }, 'could not build an exchange record (dropped, counted)');
      return;
    }
    const queued = this.transport.offer(record);
    this.o.metrics.exchanges.labels(queued ? 'queued' : 'dropped').inc();
  }

  stats(): TransportStats {
    return this.transport.stats();
  }

  /**
   * Queues this proxy's totals for the run as a coverage record (docs/effect-format.md), so what
   * it did not mirror reaches the store. Totals: a lost or repeated one changes nothing.
   */
  coverage(source: string, totals: { seen: number; mirrored: number; notMirrored: Record<string, number> }): void {
    const record: CoverageRecord = {
      v: this.o.format ?? FORMAT_VERSION,
      type: 'coverage',
      runId: this.o.runId,
      shadowId: `coverage:${source}`,
      at: new Date().toISOString(),
      source,
      seen: totals.seen,
      mirrored: totals.mirrored,
      notMirrored: { ...totals.notMirrored },
      dropped: this.transport.stats().dropped + this.built.dropped,
    };
    // A full queue drops it; the next one, seconds later, carries the same totals and more.
    this.coverageTransport.offer(record);
  }

  /** Sends what is queued (bounded by `ms`); what is left is counted as dropped. */
  async close(ms: number): Promise<TransportStats> {
    // The coverage queue first, and only flushed: the sink they share is closed once, by the exchanges' transport.
    await this.coverageTransport.flush(Math.min(ms, 2_000));
    await this.transport.close(ms);
    return this.transport.stats();
  }

  private build(g: Gathered): ExchangeRecord {
    const headers: Record<string, string> = {};
    let contentType = '';
    for (let i = 0; i < g.rawHeaders.length; i += 2) {
      const name = g.rawHeaders[i]!.toLowerCase();
      if (NEVER_RECORDED.has(name) || name.startsWith('x-shadow-')) continue;
      const value = g.rawHeaders[i + 1]!;
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      if (name === 'content-type') contentType = value;
    }
    const r = this.redactor;
    const request: ExchangeRecord['request'] = { method: g.method, path: (r.empty ? g.path : r.url(g.path)).slice(0, 4000), headers: r.empty ? headers : (r.headers(headers) as Record<string, string>) };
    if (g.route) request.route = g.route.slice(0, 500);
    const raw = this.rawBodies.length > 0 && firstMatch(this.rawBodies, g.method, g.path) !== undefined;
    if (g.body.length || g.bodyTruncated) request.body = r.value(bodyValue(g.body, contentType, { truncatedOver: g.bodyTruncated ? this.o.maxBodyBytes : undefined, raw, digest: this.digest }));
    const responses: ExchangeRecord['responses'] = {};
    for (const side of ['legacy', 'candidate', 'secondary'] as const) {
      const res = g.responses[side];
      if (res) responses[side] = this.response(res, raw);
    }
    const record: ExchangeRecord = { v: this.o.format ?? FORMAT_VERSION, type: 'exchange', runId: this.o.runId, shadowId: g.shadowId, at: g.at, request, responses };
    if (g.served) record.served = g.served;
    if (!this.o.sdk) record.sdk = false;
    return record;
  }

  private response(r: MirrorResult, raw: boolean): ExchangeResponse {
    if (r.error !== undefined) return { error: r.error.slice(0, 2000), ms: r.ms };
    const headers: Record<string, string> = {};
    for (const name of this.responseHeaders) {
      const v = r.headers?.[name];
      if (v !== undefined && !NEVER_RECORDED.has(name)) headers[name] = Array.isArray(v) ? v.join(', ') : v;
    }
    const type = headers['content-type'] ?? (typeof r.headers?.['content-type'] === 'string' ? (r.headers['content-type'] as string) : '');
    const out: ExchangeResponse = { status: r.status ?? 0, headers: this.redactor.empty ? headers : (this.redactor.headers(headers) as Record<string, string>), ms: r.ms };
    out.body = this.redactor.value(bodyValue(r.chunks ?? [], type, { truncatedOver: r.truncated ? this.o.maxBodyBytes : undefined, raw, digest: this.digest }));
    return out;
  }
}
