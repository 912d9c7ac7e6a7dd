// The SDK's side of the pre-state handoff (design decision 3a). Live: before a write inside a
// shadowed request, hand the before-images of the documents it will touch to the handoff store
// and wait (bounded) for the acknowledgement. Dry-run: after every read from the database, read
// the handoff and rewind the live side's writes of the same request. Whatever the store does,
// the live write goes ahead; a request whose pre-state could not be secured says so in its end
// marker (`prestate: unknown`) and its comparison is inconclusive.
import { randomUUID } from 'node:crypto';
import { Breaker } from '../../core/circuit-breaker';
import { MAX_READS } from '../../core/effect';
import { fingerprint } from '../../core/fingerprint';
import type { Redactor } from '../../core/redaction';
import { type Handoff, type HandoffImage, type HandoffPut, type HandoffUpsert, imageField } from '../../runtime/handoff/handoff';
import { handoffFromUrl } from '../../runtime/handoff';
import type { ShadowContext } from './context';
import { toEffectValue } from '../../core/effect-value';
import { type Doc, idKey } from './mongo/documents';
import type { WriteOp } from './mongo/operations';
import { Rewind } from './mongo/rewind';
import type { ResolvedOptions } from './options';
import type { RateLimitedLog } from './safety';
import { ShadowdiffError } from '../../core/errors';

type HandoffOptions = NonNullable<ResolvedOptions['handoff']>;

export interface PreStateStats {
  /** Live writes whose images were handed off and acknowledged in time. */
  handedOff: number;
  /** Live writes that went ahead without an acknowledgement: timed out, failed, or the breaker was open. */
  timeouts: number;
  failures: number;
  skipped: number;
  /** What the live path waited on the handoff, in all and at most once (bounded by `waitMs` plus the event loop's lateness). */
  waitedMs: number;
  longestWaitMs: number;
  /** Dry-run handoff reads, and those that failed. */
  lookups: number;
  lookupFailures: number;
  /** Dry-run requests whose pre-state ended unknown. */
  unknown: number;
}

/** A live upsert whose _id the server picks: announced before the write, resolved after it. */
export interface PendingUpsert {
  token: string;
  ns: string;
  /** The index of the write in its call (upsertedIds are reported by it). */
  index: number;
}

/** The handoff store an SDK option names: a URL (redis://, http://) or an in-process Handoff. */
export function handoffFrom(o: HandoffOptions): Handoff {
  if (typeof o.store !== 'string') return o.store;
  return handoffFromUrl(o.store, { token: o.token, prefix: o.prefix, ttlMs: o.ttlMs, timeoutMs: Math.max(o.lookupTimeoutMs, 100), setting: 'shadowdiff SDK option "handoff.store"' });
}

const TIMED_OUT = Symbol('timed out');
const RESOLVED = Promise.resolve();

/** The call's result, or TIMED_OUT after `ms` (the call goes on; a later rejection of it is ignored). */
async function within<T>(call: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  call.catch(() => undefined);
  try {
    return await Promise.race([call, new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(resolve, ms, TIMED_OUT)))]);
  } finally {
    clearTimeout(timer);
  }
}

export class PreState {
  private readonly breaker: Breaker;
  /** When the last failure was counted: calls already in flight then fail with it, as one incident. */
  private lastFailureAt = 0;
  private readonly counters: PreStateStats = { handedOff: 0, timeouts: 0, failures: 0, skipped: 0, waitedMs: 0, longestWaitMs: 0, lookups: 0, lookupFailures: 0, unknown: 0 };

  constructor(
    readonly store: Handoff,
    private readonly o: HandoffOptions,
    private readonly log: RateLimitedLog,
  ) {
    this.breaker = new Breaker(o.breakerFailures, o.breakerOpenMs);
  }

  stats(): PreStateStats {
    return { ...this.counters };
  }

  /** Marks the request's pre-state unknown (the first reason is kept). */
  unknown(ctx: ShadowContext, reason: string): void {
    if (ctx.prestateUnknown === undefined) {
      ctx.prestateUnknown = reason.slice(0, 500);
      if (ctx.mode === 'dry-run') this.counters.unknown += 1;
    }
  }

  // ---- live ----

  /**
   * Hands off what the writes of one call will touch and waits for the acknowledgement, never
   * longer than `waitMs` and never with an exception. `images` are the documents the writes'
   * filters matched (readBefore); undefined when they could not be read. Returns the upserts
   * announced as pending, for `afterWrite`.
   */
  async beforeWrite(ctx: ShadowContext, ns: string, writes: WriteOp[], images: { before: ReadonlyMap<string, Doc>; matched: unknown[][] } | undefined): Promise<PendingUpsert[]> {
    if (ctx.prestateUnknown !== undefined) return []; // already unknown: no point adding latency
    const put: HandoffImage[] = [];
    const pending: PendingUpsert[] = [];
    // A document handed off by an earlier write of this request keeps its image; a concurrent
    // write to it (Promise.all in a handler) waits for that first put, never overtakes it.
    const sent = (ctx.handedOff ??= new Map());
    const earlier = new Set<Promise<unknown>>();
    let settle!: (v: unknown) => void;
    const mine = new Promise((r) => (settle = r));
    const add = (id: unknown, before: Doc | null) => {
      const tagged = toEffectValue(id);
      const field = imageField(ns, tagged);
      const prior = sent.get(field);
      if (prior) {
        if (prior !== mine) earlier.add(prior); // the same document twice in this call (a bulk write) is one image
        return;
      }
      sent.set(field, mine);
      put.push({ ns, id: tagged, before: before === null ? null : (toEffectValue(before) as Doc) });
    };
    try {
      for (const [i, w] of writes.entries()) {
        if (w.type === 'insert') {
          if (w.doc?._id === undefined) return this.giveUp(ctx, 'an insert whose _id the server assigns (forceServerObjectId)');
          add(w.doc._id, null);
          continue;
        }
        if (!images) return this.giveUp(ctx, `could not read what a ${w.type} on ${ns} would touch`);
        const matched = images.matched[i] ?? [];
        for (const id of matched) add(id, images.before.get(idKey(id)) ?? null);
        if (w.type !== 'delete' && w.upsert && matched.length === 0) {
          const id = knownUpsertId(w);
          if (id !== undefined) add(id, null);
          else pending.push({ token: randomUUID(), ns, index: i });
        }
      }
      if (put.length > this.o.maxImages) return this.giveUp(ctx, `a write touching ${put.length} documents, over handoff.maxImages (${this.o.maxImages})`);
      // Each earlier put is bounded by its own wait, so this adds no wait of its own.
      if (earlier.size) await Promise.all(earlier);
      if (!put.length && !pending.length) return [];
      const body: HandoffPut = {};
      if (put.length) body.images = put;
      if (pending.length) body.upserts = pending.map((p) => ({ token: p.token, ns: p.ns }));
      await this.send(ctx, body);
      // Announced or not, pending upserts are resolved after the write: a reader waiting on one must not wait in vain.
      return pending;
    } finally {
      settle(undefined);
    }
  }

  /** After the write: the ids the pending upserts made (none: they matched or failed). Not awaited by the live path. */
  afterWrite(ctx: ShadowContext, pending: PendingUpsert[], upserted: Map<number, unknown>): void {
    if (!pending.length) return;
    const upserts: HandoffUpsert[] = [];
    const images: HandoffImage[] = [];
    for (const p of pending) {
      const id = upserted.get(p.index);
      if (id === undefined) {
        upserts.push({ token: p.token, ns: p.ns, ids: [] });
        continue;
      }
      const tagged = toEffectValue(id);
      // Later writes of this request to the new document must not hand off its post-upsert state.
      ctx.handedOff?.set(imageField(p.ns, tagged), RESOLVED);
      upserts.push({ token: p.token, ns: p.ns, ids: [tagged] });
      images.push({ ns: p.ns, id: tagged, before: null });
    }
    this.store.put(ctx.runId, ctx.shadowId, { images, upserts }).catch((err: unknown) => {
      this.unknown(ctx, `an upsert's id could not be handed off (${describe(err)})`);
      this.log.warn('handoff-resolve', { err: describe(err) }, 'pre-state handoff: could not report the id an upsert made; the comparison of that request is inconclusive');
    });
  }

  private giveUp(ctx: ShadowContext, reason: string): PendingUpsert[] {
    this.counters.skipped += 1;
    this.unknown(ctx, reason);
    return [];
  }

  /**
   * A failed call counts toward the breaker only if it started after the last counted failure:
   * one stall (a pause of the process, a slow store) times out every call in flight at once,
   * and that is one incident, not a run of consecutive failures.
   */
  private failed(started: number): void {
    if (started < this.lastFailureAt) return;
    this.lastFailureAt = performance.now();
    this.breaker.failure(Date.now());
  }

  private waited(started: number): void {
    const ms = performance.now() - started;
    this.counters.waitedMs += ms;
    if (ms > this.counters.longestWaitMs) this.counters.longestWaitMs = ms;
  }

  /** One put, bounded by waitMs and the breaker; the request is marked unknown unless it was acknowledged in time. */
  private async send(ctx: ShadowContext, body: HandoffPut): Promise<void> {
    const started = performance.now();
    if (!this.breaker.allow(Date.now())) {
      this.counters.skipped += 1;
      this.unknown(ctx, 'the handoff circuit is open after repeated failures');
      return;
    }
    try {
      const answer = await within(this.store.put(ctx.runId, ctx.shadowId, body), this.o.waitMs);
      this.waited(started);
      if (answer === TIMED_OUT) {
        this.counters.timeouts += 1;
        this.failed(started);
        this.unknown(ctx, `the handoff did not acknowledge within ${this.o.waitMs} ms`);
        this.log.warn('handoff-timeout', { waitMs: this.o.waitMs }, 'pre-state handoff: no acknowledgement in time; the write went ahead and the comparison of that request is inconclusive');
        return;
      }
      this.counters.handedOff += 1;
      this.breaker.success();
    } catch (err) {
      this.waited(started);
      this.counters.failures += 1;
      this.failed(started);
      this.unknown(ctx, `the handoff failed (${describe(err)})`);
      this.log.warn('handoff-failed', { err: describe(err) }, 'pre-state handoff failed; the write went ahead and the comparison of that request is inconclusive');
    }
  }

  // ---- dry-run ----

  /** The rewind layer of a dry-run request (one per request). */
  rewind(ctx: ShadowContext): Rewind {
    return (ctx.rewind ??= new Rewind({ lookup: () => this.lookup(ctx), unknown: (reason) => this.unknown(ctx, reason), pendingWaitMs: this.o.pendingWaitMs }));
  }

  /** @internal One bounded, breaker-guarded read of the handoff; undefined (and the request marked unknown) when it fails. */
  async lookup(ctx: ShadowContext): Promise<Awaited<ReturnType<Handoff['get']>> | undefined> {
    if (!this.breaker.allow(Date.now())) {
      this.unknown(ctx, 'the handoff circuit is open after repeated failures');
      return undefined;
    }
    this.counters.lookups += 1;
    const started = performance.now();
    try {
      const r = await within(this.store.get(ctx.runId, ctx.shadowId), this.o.lookupTimeoutMs);
      if (r === TIMED_OUT) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `no answer within ${this.o.lookupTimeoutMs} ms`);
      this.breaker.success();
      return r;
    } catch (err) {
      this.counters.lookupFailures += 1;
      this.failed(started);
      this.unknown(ctx, `the handoff could not be read (${describe(err)})`);
      this.log.warn('handoff-lookup', { err: describe(err) }, 'pre-state handoff could not be read; the comparison of that request is inconclusive');
      return undefined;
    }
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

/**
 * A dry-run read without a handoff: the documents it returned, each as a fingerprint of its
 * redacted effect-format JSON (the form the live side's images are recorded in), at most
 * MAX_READS a request. The comparator tells from them whether the read saw the live side's write.
 */
export function noteReads(ctx: ShadowContext, ns: string, docs: readonly unknown[], redactor: Redactor): void {
  for (const d of docs) {
    if (!d || typeof d !== 'object' || (d as Doc)._id === undefined) continue;
    const reads = (ctx.reads ??= []);
    if (reads.length >= MAX_READS) {
      ctx.readsOmitted = (ctx.readsOmitted ?? 0) + 1;
      continue;
    }
    const value = toEffectValue(d) as Doc;
    if (!redactor.empty) redactor.value(value);
    const read = { target: ns, key: { _id: toEffectValue((d as Doc)._id) }, fp: fingerprint(value) };
    if (!reads.some((r) => r.fp === read.fp && r.target === ns)) reads.push(read);
  }
}

/** The _id an upsert will insert when the filter or the update names it. */
function knownUpsertId(w: WriteOp): unknown {
  if (w.type === 'insert' || w.type === 'delete') return undefined;
  const f = w.filter._id;
  if (f !== undefined && !isOperatorObject(f)) return f;
  if (w.type === 'replace') return w.replacement?._id;
  const u = w.update as Doc | undefined;
  if (u && !Array.isArray(u)) {
    const fromSet = (u.$set as Doc | undefined)?._id ?? (u.$setOnInsert as Doc | undefined)?._id;
    if (fromSet !== undefined) return fromSet;
  }
  return undefined;
}

function isOperatorObject(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !('_bsontype' in v) && !(v instanceof Date) && Object.keys(v).some((k) => k.startsWith('$'));
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message.slice(0, 200) : String(err).slice(0, 200);
}
