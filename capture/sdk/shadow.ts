// The SDK instance a service creates once: options, the outbox, the redactor, and the two
// operations everything else is built on — recording an effect and ending a side. The
// instrumenters (express.ts, mongo/, amqp.ts, http.ts) call these inside a request context.
import { type EffectKind, type EffectRecord, type EndRecord, OPS_BY_KIND } from '../../core/effect';
import { undoFor } from '../../core/undo';
import { ShadowdiffError } from '../../core/errors';
import type { Mode } from '../../core/headers';
import { createLogger, type Logger } from '../../core/logger';
import { createRedactor, type Redactor } from '../../core/redaction';
import { compileRoutePattern, type RoutePattern } from '../../core/route-pattern';
import { verifyShadow } from '../../core/signing';
import { contextFromHeaders, currentContext, type HeaderSource, type ShadowContext, type SignatureCheck, storage } from './context';
import { type ResolvedOptions, sdkOptionsSchema, type ShadowOptions } from './options';
import { handoffFrom, PreState, type PreStateStats } from './prestate';
import { rateLimitedLog, type RateLimitedLog } from './safety';
import { busSink, sinkFromUrl } from './sinks';
import { type RecordSink, Transport, type TransportStats } from './transport';
import { READABLE } from '../../core/issues';

export interface EffectFields {
  kind: EffectKind;
  target: string;
  op: EffectRecord['op'];
  key?: unknown;
  before?: unknown;
  after?: unknown;
  payload?: unknown;
  meta?: Record<string, unknown>;
  status?: 'ok' | 'failed';
  error?: string;
}

export interface RequestInfo {
  method: string;
  path: string;
  route?: string;
}

export interface ShadowStats extends TransportStats {
  /** Requests and messages handled in a shadow context. */
  contexts: number;
  effects: number;
  /** Requests with shadow headers that were malformed (the SDK stayed inert for them). */
  invalidHeaders: number;
  /** Errors inside the SDK, each logged and swallowed: the host never saw them. */
  internalErrors: number;
  /** Dry-run operations the SDK could not emulate (recorded as failed effects). */
  emulationFailures: number;
  /** Live SDK: requests its signed headers lowered to dry-run, and those that asked and were refused, by why. */
  modes: ModeStats;
  /** The pre-state handoff, when configured. */
  handoff?: PreStateStats;
  /** What the MongoDB instrumentation saw: how to tell that it is wired (docs/sdk.md). */
  mongo: MongoStats;
}

export interface ModeStats {
  /** Run in dry-run on a good signature. */
  lowered: number;
  /** Asked for dry-run without a signature (or this SDK has no signing key): run live. */
  unsigned: number;
  /** Asked for dry-run with a signature that does not verify: run live. */
  badSignature: number;
  /** Asked for dry-run with a signature older than signing.maxAgeMs: run live. */
  staleSignature: number;
}

export interface MongoStats {
  /** Driver objects passed to mongo() or reached through one (clients, dbs, collections, Mongoose connections). */
  instrumented: number;
  /** Reads and writes that went through an instrumented object, in a shadow request or not. */
  calls: number;
  /** Index and collection changes a dry-run service asked for and the SDK did not send. */
  schemaSkipped: number;
  /** Writes a dry-run service made outside any shadow request: they reached the server. */
  writesOutsideRequests: number;
}

export class Shadow {
  readonly side: ResolvedOptions['side'];
  readonly mode: Mode;
  /** @internal */ readonly options: ResolvedOptions;
  /** @internal */ readonly redactor: Redactor;
  /** @internal Routes whose response bodies are kept as they are (`response.rawBodies`). */ readonly rawBodies: readonly RoutePattern[];
  /** @internal */ readonly log: RateLimitedLog;
  /** @internal */ readonly logger: Logger;
  /** @internal The pre-state handoff, when configured. */ readonly prestate: PreState | undefined;
  private readonly ownsHandoff: boolean;
  private readonly transport: Transport;
  private readonly counters = { contexts: 0, effects: 0, invalidHeaders: 0, internalErrors: 0, emulationFailures: 0 };
  private readonly modeCounters: ModeStats = { lowered: 0, unsigned: 0, badSignature: 0, staleSignature: 0 };
  private readonly checkSignature: SignatureCheck | undefined;
  private readonly mongoCounters: MongoStats = { instrumented: 0, calls: 0, schemaSkipped: 0, writesOutsideRequests: 0 };
  /** The mis-wiring warning is given once per process. */
  private warnedUnwired = false;
  /** Skipped schema changes already logged (each once). */
  private readonly schemaLogged = new Set<string>();

  constructor(options: ShadowOptions) {
    const parsed = sdkOptionsSchema.safeParse(options, READABLE);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ShadowdiffError('SHADOWDIFF_CONFIG', `shadowdiff SDK option "${issue.path.join('.') || '(options)'}": ${issue.message}.`, { key: issue.path.join('.') });
    }
    this.options = parsed.data;
    this.side = this.options.side;
    this.mode = this.options.mode ?? (this.side === 'legacy' ? 'live' : 'dry-run');
    this.logger = (this.options.logger ?? createLogger()).child({ component: 'sdk', side: this.side });
    this.log = rateLimitedLog(this.logger);
    this.redactor = createRedactor(this.options.redact);
    this.rawBodies = this.options.response.rawBodies.map((r, i) => compileRoutePattern(r, `shadowdiff SDK option "response.rawBodies.${i}"`));
    const o = this.options;
    const sink: RecordSink =
      typeof o.sink === 'string'
        ? sinkFromUrl(o.sink, { logger: this.logger, prefix: o.prefix, partitions: o.partitions, packBytes: o.packBytes, compression: o.compression })
        : 'write' in o.sink
          ? (o.sink as RecordSink)
          : busSink(o.sink, 0);
    this.transport = new Transport(sink, o.buffer, this.log);
    this.prestate = o.handoff ? new PreState(handoffFrom(o.handoff), o.handoff, this.log) : undefined;
    this.ownsHandoff = typeof o.handoff?.store === 'string';
    const signing = o.signing;
    if (signing) this.checkSignature = (value, fields) => verifyShadow(signing, value, fields);
  }

  /** The shadow id, run, side and mode of the current request, or undefined outside one. */
  context(): { shadowId: string; runId: string; side: string; mode: Mode } | undefined {
    const c = currentContext();
    return c && { shadowId: c.shadowId, runId: c.runId, side: c.side, mode: c.mode };
  }

  /**
   * Runs `fn` in the shadow context the headers describe (an AMQP consumer, a job runner): its
   * effects are recorded, and when it returns or settles the side's end marker is sent. Without
   * shadow headers it just runs `fn`. The return value and any error pass through unchanged.
   */
  withShadowContext<T>(headers: HeaderSource, fn: () => T, request: RequestInfo = { method: 'CALL', path: '' }): T {
    const ctx = this.begin(headers);
    if (!ctx) return fn();
    let result: T;
    try {
      result = storage.run(ctx, fn);
    } catch (err) {
      this.end(ctx, request, { error: err });
      throw err;
    }
    if (isThenable(result)) {
      // Rethrowing keeps an unhandled rejection unhandled, as it was without the SDK. A thenable
      // that is not a Promise (a Mongoose Query) starts its work when `then` is called: called
      // here in the context, so that work is the request's.
      return storage.run(ctx, () => result.then(
        (v: unknown) => {
          this.end(ctx, request, {});
          return v;
        },
        (err: unknown) => {
          this.end(ctx, request, { error: err });
          throw err;
        },
      )) as T;
    }
    this.end(ctx, request, {});
    return result;
  }

  stats(): ShadowStats {
    const s: ShadowStats = { ...this.transport.stats(), ...this.counters, modes: { ...this.modeCounters }, mongo: { ...this.mongoCounters } };
    if (this.prestate) s.handoff = this.prestate.stats();
    return s;
  }

  /** Waits until every record so far has reached the sink; false if `timeoutMs` passed first. */
  flush(timeoutMs?: number): Promise<boolean> {
    return this.transport.flush(timeoutMs);
  }

  /** Sends what is buffered (waiting up to `timeoutMs`) and closes the sink. Call on shutdown. */
  async close(timeoutMs?: number): Promise<void> {
    await this.transport.close(timeoutMs);
    if (this.ownsHandoff) await this.prestate?.close().catch(() => undefined);
  }

  /** @internal A context for these headers, or undefined (inert). */
  begin(headers: HeaderSource): ShadowContext | undefined {
    try {
      const r = contextFromHeaders(headers, this.side, this.mode, this.checkSignature);
      if ('context' in r) {
        this.counters.contexts += 1;
        if (r.refused) this.refusedDryRun(r.refused);
        else if (r.context.mode !== this.mode) this.modeCounters.lowered += 1;
        return r.context;
      }
      if (r.inert === 'invalid-headers') {
        this.counters.invalidHeaders += 1;
        this.log.warn('invalid-headers', { reason: r.reason }, 'request carries invalid shadow headers; not recording it');
      }
    } catch (err) {
      this.internalError('begin', err);
    }
    return undefined;
  }

  /** A request asked for dry-run and runs live: counted, and said (rate-limited) with what to fix. */
  private refusedDryRun(why: 'unsigned' | 'bad' | 'stale'): void {
    const c = this.modeCounters;
    if (why === 'unsigned') c.unsigned += 1;
    else if (why === 'bad') c.badSignature += 1;
    else c.staleSignature += 1;
    const text =
      why === 'unsigned'
        ? this.checkSignature
          ? 'a request asked for dry-run without a signature'
          : 'a request asked for dry-run, and this SDK has no signing key (option signing.key, env SHADOWDIFF_SIGNING_KEY)'
        : why === 'bad'
          ? 'a request asked for dry-run with a signature that does not verify: the proxy and this SDK must share signing.key'
          : 'a request asked for dry-run with a signature older than signing.maxAgeMs: check the clocks of the proxy and this host';
    this.log.warn(`mode:${why}`, { why }, `${text}; it runs live, as this SDK is configured (headers can only lower a side to dry-run, with the proxy's signature)`);
  }

  /** @internal Takes the next seq of the context. */
  nextSeq(ctx: ShadowContext): number {
    return ctx.seq++;
  }

  /**
   * @internal Records one effect with a seq taken by nextSeq. Values must already be in the
   * effect format's JSON (toEffectValue); redaction happens here, before the record is queued.
   */
  record(ctx: ShadowContext, seq: number, fields: EffectFields): void {
    try {
      const r = this.redactor;
      if (!r.empty) {
        if (fields.kind === 'db' || fields.kind === 'message') {
          r.value(fields.key);
          r.value(fields.before);
          r.value(fields.after);
          r.value(fields.payload);
          if (fields.meta) r.value(fields.meta);
          const h = fields.meta?.headers;
          if (h && typeof h === 'object') fields.meta!.headers = r.headers(h as Record<string, unknown>);
        } else {
          // A call or response recorded by fetch or the middleware is an envelope: paths are
          // relative to its body, and its headers are redacted by name. Anything else given to
          // effect() is redacted as it is, like a document.
          const p = fields.payload as { body?: unknown; headers?: Record<string, unknown>; url?: unknown } | undefined;
          if (p && typeof p === 'object' && !Array.isArray(p) && ('body' in p || 'headers' in p)) {
            r.value(p.body);
            if (p.headers && typeof p.headers === 'object') p.headers = r.headers(p.headers);
            if (typeof p.url === 'string') p.url = r.url(p.url);
          } else {
            r.value(fields.payload);
          }
          r.value(fields.key);
          if (fields.meta) r.value(fields.meta);
        }
      }
      const record: EffectRecord = {
        v: this.options.format,
        type: 'effect',
        runId: ctx.runId,
        shadowId: ctx.shadowId,
        side: ctx.side,
        seq,
        kind: fields.kind,
        target: fields.target.slice(0, 500),
        op: fields.op ?? OPS_BY_KIND[fields.kind][0],
        at: new Date().toISOString(),
      };
      if (fields.key !== undefined) record.key = fields.key;
      if (fields.before !== undefined) {
        // Format 2: an update's before-image as the reverse delta from its after-image (core/undo.ts).
        const undo = record.v === 2 ? undoFor(record.op, fields.before, fields.after) : undefined;
        if (undo) record.undo = undo;
        else record.before = fields.before;
      }
      if (fields.after !== undefined) record.after = fields.after;
      if (fields.payload !== undefined) record.payload = fields.payload;
      if (fields.meta !== undefined) record.meta = fields.meta;
      if (fields.status === 'failed') {
        record.status = 'failed';
        if (fields.error) record.error = fields.error.slice(0, 2000);
      }
      this.counters.effects += 1;
      if (!this.transport.offer(record)) ctx.dropped += 1;
    } catch (err) {
      ctx.dropped += 1;
      this.internalError('record', err);
    }
  }

  /** @internal Sends the side's end marker (once; children send none). */
  end(ctx: ShadowContext, request: RequestInfo, outcome: { status?: number; error?: unknown }): void {
    if (ctx.ended || ctx.seqBase > 0) return;
    ctx.ended = true;
    try {
      const end: EndRecord = {
        v: this.options.format,
        type: 'end',
        runId: ctx.runId,
        shadowId: ctx.shadowId,
        side: ctx.side,
        count: ctx.seq,
        request: { method: request.method.slice(0, 20) || 'CALL', path: request.path.slice(0, 4000), ...(request.route ? { route: request.route.slice(0, 500) } : {}) },
        at: new Date().toISOString(),
      };
      if (outcome.status !== undefined) end.status = outcome.status;
      if (outcome.error !== undefined) end.error = errorText(outcome.error);
      if (ctx.dropped) end.dropped = ctx.dropped;
      if (ctx.exchange) end.exchange = true;
      // Said only where it is not the side's usual mode: a request a cutover reversed.
      if (ctx.mode !== (ctx.side === 'legacy' ? 'live' : 'dry-run')) end.mode = ctx.mode;
      if (ctx.reads?.length) end.reads = ctx.reads;
      if (ctx.readsOmitted) end.readsOmitted = ctx.readsOmitted;
      if (this.prestate) {
        end.prestate = ctx.prestateUnknown === undefined ? 'handoff' : 'unknown';
        if (ctx.prestateUnknown !== undefined) end.prestateReason = ctx.prestateUnknown;
      }
      if (ctx.seq === 0 && STATE_CHANGING_METHODS.has(end.request.method.toUpperCase())) this.checkWired(end.request);
      // A lost end marker costs the whole comparison: it may use the buffer's reserve.
      this.transport.offer(end, true);
    } catch (err) {
      this.internalError('end', err);
    }
  }

  /** @internal An object of the driver was instrumented. */
  mongoInstrumented(): void {
    this.mongoCounters.instrumented += 1;
  }

  /** @internal A read or write went through an instrumented object. */
  driverCalled(): void {
    this.mongoCounters.calls += 1;
  }

  /** @internal A dry-run service's index or collection change, not sent to the server. */
  schemaWriteSkipped(method: string, ns: string): void {
    this.mongoCounters.schemaSkipped += 1;
    const key = `${method} ${ns}`;
    if (this.schemaLogged.has(key) || this.schemaLogged.size >= 1000) return;
    this.schemaLogged.add(key);
    this.logger.info({ method, ns }, `dry-run: ${method} on ${ns} not sent to the server (a dry-run service never changes the shared database; legacy owns its indexes and collections)`);
  }

  /** @internal A dry-run service wrote outside any shadow request: the write went to the server. */
  writeOutsideRequest(ns: string, method: string): void {
    this.mongoCounters.writesOutsideRequests += 1;
    this.log.warn(
      `outside:${ns}`,
      { ns, method },
      `dry-run service wrote to ${ns} (${method}) outside any shadow request: the write reached the server. A dry-run side must not write to the database it shares with legacy; run startup seeding and jobs on legacy only.`,
    );
  }

  /**
   * A request that changes state ended with no effect at all. Once per process, when the
   * MongoDB instrumentation was never set up or nothing ever went through it, say it is
   * probably mis-wired: such a side compares on its response alone and shows green.
   */
  private checkWired(request: EndRecord['request']): void {
    const m = this.mongoCounters;
    if (this.warnedUnwired || (m.instrumented > 0 && m.calls > 0)) return;
    this.warnedUnwired = true;
    const why = m.instrumented === 0 ? 'shadow.mongo() or shadow.mongoose() was never called' : 'nothing has gone through the objects shadow.mongo() returned (the app uses other ones)';
    this.logger.warn(
      { method: request.method, path: request.path, instrumented: m.instrumented, calls: m.calls },
      `shadowdiff: ${request.method} ${request.path} ended with no recorded effect and ${why}. If this service writes to MongoDB, its writes are not recorded and its comparisons rest on responses alone: use the object shadow.mongo() returns, or shadow.mongoose(mongoose) with Mongoose (docs/sdk.md).`,
    );
  }

  /** @internal A dry-run operation the SDK could not emulate. */
  emulationFailed(what: string, err: unknown): void {
    this.counters.emulationFailures += 1;
    this.log.warn(`emulation:${what}`, { err: errorText(err) }, `dry-run could not emulate ${what}; recorded as a failed effect`);
  }

  /** @internal Logs and counts an error of the SDK's own; never rethrown. */
  internalError(where: string, err: unknown): void {
    this.counters.internalErrors += 1;
    this.log.warn(`internal:${where}`, { where, err: errorText(err) }, 'shadowdiff SDK error (the request is unaffected)');
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
}

/** HTTP methods that change state: one of these ending with no effect at all is worth a look. */
const STATE_CHANGING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return (code !== undefined ? `${err.name} ${String(code)}: ${err.message}` : `${err.name}: ${err.message}`).slice(0, 2000);
  }
  return String(err).slice(0, 2000);
}
