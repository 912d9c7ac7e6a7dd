// The replay engine: plays recorded requests at a candidate (dry-run) — and in paired mode at a
// legacy instance too — under a fresh shadow id each, at a rate, a concurrency or the original
// timing, never letting two requests with the same ordering key overtake each other. Each
// side's response is recorded here, in the exchange, so responses are compared even for
// services without the SDK. In baseline mode the recorded legacy records are published under
// the new shadow id, and the comparator sees them as if legacy had just run.
import { Pool } from 'undici';
import { type EffectRecord, type EndRecord, type ExchangeRecord, type ExchangeResponse, FORMAT_VERSION, type ShadowRecord, type SideRecord } from '../core/effect';
import { EXCHANGE_HEADER, HEADERS } from '../core/headers';
import { uuidv7 } from '../core/ids';
import type { Logger } from '../core/logger';
import { createRedactor, HASH_PREFIX, type RedactionConfig } from '../core/redaction';
import { BodyPrefix, bodyValue } from '../core/body';
import { unescapeKey } from '../core/effect-value';
import { type Handoff, type HandoffImage, imageField } from '../runtime/handoff/handoff';
import type { RecordedRequest } from './recording';
import { ShadowdiffError } from '../core/errors';

export interface ReplayOptions {
  /** The candidate's origin (dry-run). */
  candidate: string;
  /** Paired mode: a legacy origin, replayed in live mode beside the candidate. */
  legacy?: string;
  runId: string;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
  /** Requests per second at most. */
  rate?: number;
  /** Original timing (the exchanges' `at`), sped up by this factor. */
  speed?: number;
  /** Requests with the same key run one after another, in recording order. */
  key?: (exchange: ExchangeRecord) => string | undefined;
  /** Per request, per side (default 30 s). */
  timeoutMs?: number;
  /** Whether the services run the SDK (default true); false compares responses only. */
  sdk?: boolean;
  /** Same settings as the recording's: a hashed field must hash alike on both sides. */
  redact?: RedactionConfig;
  /** Response headers kept (default content-type, location: as the proxy records). */
  responseHeaders?: string[];
  maxBodyBytes?: number;
  /** Where the records go: the embedded pipeline's bus, or RabbitMQ. */
  publish: (records: ShadowRecord[]) => Promise<void>;
  logger: Logger;
  /** Stops taking new requests; those in flight finish. */
  signal?: AbortSignal;
  onProgress?: (p: ReplayProgress) => void;
  /** Backpressure: resolves when the pipeline can take another request (`sent` so far). */
  ready?: (sent: number) => Promise<void>;
  /**
   * Baseline mode: the pre-state handoff the candidate's SDK reads. Before each request the
   * recorded legacy before-images are put there under the new shadow id, so the candidate's
   * dry-run starts from production's state of every document legacy wrote.
   */
  handoff?: Handoff;
  /** Headers added to every replayed request (names lower-case), over the recorded ones: credentials the recording left out. */
  headers?: Record<string, string> | undefined;
  /** Changes each request before it is sent (per-request tokens): return it, or null to leave the request out. */
  rewrite?: RewriteRequest | undefined;
}

/** A request as it is about to be replayed, for `rewrite`. */
export interface OutgoingRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | null;
}

export type RewriteRequest = (request: OutgoingRequest) => OutgoingRequest | null | undefined | Promise<OutgoingRequest | null | undefined>;

export interface ReplayProgress {
  read: number;
  sent: number;
  /** Requests that got no response from the candidate (or legacy, paired). */
  errors: number;
  /** Requests left out: a body the recording did not keep, and such. */
  skipped: number;
  inFlight: number;
}

export interface ReplaySummary extends ReplayProgress {
  stopped: boolean;
  /** The first failure to get a response, `<side>: <reason>`. */
  firstError?: string;
  ms: number;
  /** Why requests were skipped, by reason. */
  skippedBy: Record<string, number>;
  /** Baseline with a handoff: requests whose recorded before-images were handed to the candidate, and documents in all. */
  preloaded?: { requests: number; documents: number; failed: number };
  /** Baseline: requests sent with nothing recorded of legacy (no response, no records) to compare against. */
  withoutLegacy: number;
  /** Requests both sides answered with a 5xx: compared equal, but likely a set-up problem (ids already stored). */
  bothFailed: number;
  /** Requests both sides answered 401 or 403: compared equal, but nothing behind the login was tested. */
  unauthorized: number;
  /** Requests the candidate answered 401 or 403 where legacy did not: most likely missing credentials. */
  candidateUnauthorized: number;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect']);

export async function replay(requests: AsyncIterable<RecordedRequest>, o: ReplayOptions): Promise<ReplaySummary> {
  const started = Date.now();
  const concurrency = o.concurrency ?? 16;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const pools = { candidate: new Pool(o.candidate, { connections: concurrency, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }), legacy: o.legacy ? new Pool(o.legacy, { connections: concurrency, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }) : undefined };
  const redactor = createRedactor(o.redact ?? {});
  const keep = (o.responseHeaders ?? ['content-type', 'location']).map((h) => h.toLowerCase());
  const maxBody = o.maxBodyBytes ?? 262_144;
  const p: ReplayProgress = { read: 0, sent: 0, errors: 0, skipped: 0, inFlight: 0 };
  const skippedBy: Record<string, number> = {};
  let withoutLegacy = 0;
  let bothFailed = 0;
  let unauthorized = 0;
  let candidateUnauthorized = 0;
  const skip = (why: string) => {
    p.skipped += 1;
    skippedBy[why] = (skippedBy[why] ?? 0) + 1;
  };
  const chains = new Map<string, Promise<void>>();
  const slots: (() => void)[] = [];
  let free = concurrency;
  let firstAt: number | undefined;
  let paceIndex = 0;
  let firstError: string | undefined;

  const acquire = async () => {
    if (free > 0) return void (free -= 1);
    await new Promise<void>((resolve) => slots.push(resolve));
  };
  const release = () => {
    const next = slots.shift();
    if (next) next();
    else free += 1;
  };

  /** Waits until the request may start under --rate or --speed. */
  const pace = async (x: ExchangeRecord) => {
    let due: number | undefined;
    if (o.speed) {
      const at = Date.parse(x.at);
      firstAt ??= at;
      due = started + (at - firstAt) / o.speed;
    } else if (o.rate) due = started + (paceIndex++ * 1000) / o.rate;
    const wait = due === undefined ? 0 : due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  };

  /** The request to send: the recorded one, without hop-by-hop and shadow headers, with --header's over it, then --rewrite's change. */
  const outgoing = async (x: ExchangeRecord, body: Buffer | null): Promise<OutgoingRequest | string> => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(x.request.headers ?? {})) if (!HOP_BY_HOP.has(name) && !name.startsWith('x-shadow-')) headers[name] = value;
    Object.assign(headers, o.headers);
    const request: OutgoingRequest = { method: x.request.method, path: x.request.path, headers, body };
    if (!o.rewrite) return request;
    try {
      const out = await o.rewrite(request);
      if (out === null || out === undefined) return 'left out by --rewrite';
      const ok = typeof out === 'object' && typeof out.method === 'string' && typeof out.path === 'string' && out.path.startsWith('/') && typeof out.headers === 'object' && out.headers !== null && (out.body === null || out.body === undefined || Buffer.isBuffer(out.body) || typeof out.body === 'string');
      if (!ok) return '--rewrite returned no request ({method, path starting with /, headers, body}) or null';
      return { ...out, body: typeof out.body === 'string' ? Buffer.from(out.body) : (out.body ?? null) };
    } catch (err) {
      o.logger.warn({ err: (err as Error).message, path: x.request.path }, 'replay: --rewrite threw; request left out');
      return `--rewrite failed: ${String((err as Error)?.message ?? err).slice(0, 100)}`;
    }
  };

  // A body that is not kept is hashed as the recording hashed legacy's (keyed or not), or the
  // two could never compare equal.
  const keyed = (b: Uint8Array) => redactor.digest(b);
  const digestLike = (recorded: unknown): ((b: Uint8Array) => string) | undefined => {
    const r = recorded as { $unparsed?: { hash?: unknown }; $truncated?: unknown; hash?: unknown } | null;
    const hash = r?.$unparsed?.hash ?? (r?.$truncated !== undefined ? r.hash : undefined);
    return typeof hash === 'string' && hash.startsWith(HASH_PREFIX) ? keyed : undefined;
  };

  const send = async (pool: Pool, request: OutgoingRequest, shadowId: string, side: 'legacy' | 'candidate', digest?: (b: Uint8Array) => string): Promise<ExchangeResponse> => {
    const headers: string[] = [];
    for (const [name, value] of Object.entries(request.headers)) if (!HOP_BY_HOP.has(name.toLowerCase()) && !name.toLowerCase().startsWith('x-shadow-')) headers.push(name, value);
    headers.push(HEADERS.shadowId, shadowId, HEADERS.run, o.runId, HEADERS.side, side, HEADERS.mode, side === 'legacy' ? 'live' : 'dry-run', EXCHANGE_HEADER, '1');
    const t0 = performance.now();
    try {
      const res = await pool.request({ path: request.path, method: request.method, headers, body: request.body });
      // Over the cap, its first maxBody bytes stay, for the hash recorded (as the proxy does).
      const kept = new BodyPrefix(maxBody);
      for await (const chunk of res.body) kept.add(chunk as Buffer);
      const out: Record<string, string> = {};
      for (const name of keep) {
        const v = res.headers[name];
        if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
      }
      const type = typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : '';
      return { status: res.statusCode, headers: redactor.empty ? out : (redactor.headers(out) as Record<string, string>), body: redactor.value(bodyValue(kept.chunks, type, { truncatedOver: kept.truncated ? maxBody : undefined, digest })), ms: Math.round((performance.now() - t0) * 10) / 10 };
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
      return { error: (e.cause?.code ?? e.code ?? e.message ?? 'error').toString().slice(0, 200), ms: Math.round((performance.now() - t0) * 10) / 10 };
    }
  };

  const one = async (r: RecordedRequest): Promise<void> => {
    const x = r.exchange;
    const body = r.body ?? requestBody(x.request.body, x.request.headers?.['content-type']);
    if (typeof body === 'string') return skip(body);
    if (r.missing?.request) return skip(r.missing.request);
    // Baseline compares with the recorded response: without its body there is nothing to compare.
    if (r.missing?.response && !pools.legacy && !r.legacy.length) return skip(r.missing.response);
    const request = await outgoing(x, body);
    if (typeof request === 'string') return skip(request);
    const shadowId = uuidv7();
    const baseline = !pools.legacy;
    const hasLegacyRecords = r.legacy.length > 0;
    // Baseline: legacy is the recording. Without its records, only responses can be compared.
    const sdk = (o.sdk ?? true) && (!baseline || hasLegacyRecords);
    if (baseline && sdk) {
      if (o.handoff) await preload(o.handoff, shadowId, r.legacy);
      await o.publish(r.legacy.map((rec) => rekeyed(rec, shadowId, o.runId)));
    }
    p.sent += 1;
    const digest = pools.legacy ? undefined : digestLike(x.responses.legacy?.body);
    const [candidate, legacy] = await Promise.all([send(pools.candidate, request, shadowId, 'candidate', digest), pools.legacy ? send(pools.legacy, request, shadowId, 'legacy', digest) : Promise.resolve(undefined)]);
    if (candidate.error !== undefined || legacy?.error !== undefined) {
      p.errors += 1;
      firstError ??= candidate.error !== undefined ? `candidate: ${candidate.error}` : `legacy: ${legacy!.error}`;
    }
    const responses: ExchangeRecord['responses'] = { candidate };
    const recordedLegacy = x.responses.legacy;
    if (legacy) responses.legacy = legacy;
    else if (recordedLegacy) responses.legacy = recordedLegacy;
    else if (!hasLegacyRecords) withoutLegacy += 1;
    if ((candidate.status ?? 0) >= 500 && (responses.legacy?.status ?? 0) >= 500) bothFailed += 1;
    const denied = (s: number | undefined) => s === 401 || s === 403;
    if (denied(candidate.status)) {
      if (denied(responses.legacy?.status)) unauthorized += 1;
      else if (responses.legacy?.status !== undefined) candidateUnauthorized += 1;
    }
    const exchange: ExchangeRecord = { v: FORMAT_VERSION, type: 'exchange', runId: o.runId, shadowId, at: new Date().toISOString(), request: x.request, responses, replayOf: x.shadowId };
    if (!sdk) exchange.sdk = false;
    await o.publish([exchange]);
  };

  const loaded = { requests: 0, documents: 0, failed: 0 };
  /** The recorded before-image of each document legacy wrote (its first write's), under the new shadow id. */
  const preload = async (handoff: Handoff, shadowId: string, records: readonly SideRecord[]): Promise<void> => {
    const images = new Map<string, HandoffImage>();
    for (const rec of records) {
      if (rec.type !== 'effect' || rec.kind !== 'db' || rec.status === 'failed' || rec.before === undefined) continue;
      const id = (rec.key as { _id?: unknown } | undefined)?._id;
      if (id === undefined) continue;
      const k = imageField(rec.target, id);
      if (images.has(k)) continue;
      images.set(k, { ns: rec.target, id, before: rec.before as HandoffImage['before'] });
    }
    if (!images.size) return;
    try {
      await handoff.put(o.runId, shadowId, { images: [...images.values()] });
      loaded.requests += 1;
      loaded.documents += images.size;
    } catch (err) {
      loaded.failed += 1;
      o.logger.warn({ err: (err as Error).message }, 'replay: could not hand the recorded pre-state to the candidate; that request runs on the database as it is');
    }
  };
  const tasks = new Set<Promise<void>>();
  const progress = setInterval(() => o.onProgress?.({ ...p }), 200);
  progress.unref();
  try {
    for await (const r of requests) {
      if (o.signal?.aborted) break;
      p.read += 1;
      await acquire();
      if (o.signal?.aborted) {
        release();
        break;
      }
      await pace(r.exchange);
      if (o.ready) await o.ready(p.sent);
      const key = o.key?.(r.exchange);
      const before = key === undefined ? undefined : chains.get(key);
      p.inFlight += 1;
      const run = async () => {
        try {
          if (before) await before;
          await one(r);
        } catch (err) {
          p.errors += 1;
          o.logger.warn({ err: (err as Error).message, line: r.line }, 'replay of a request failed');
        } finally {
          p.inFlight -= 1;
          release();
        }
      };
      const task: Promise<void> = run().finally(() => {
        if (key !== undefined && chains.get(key) === task) chains.delete(key);
        tasks.delete(task);
      });
      tasks.add(task);
      if (key !== undefined) chains.set(key, task);
    }
    await Promise.all(tasks);
  } finally {
    clearInterval(progress);
    o.onProgress?.({ ...p });
    await Promise.all([pools.candidate.close(), pools.legacy?.close()]);
  }
  return { ...p, stopped: o.signal?.aborted ?? false, ms: Date.now() - started, skippedBy, withoutLegacy, bothFailed, unauthorized, candidateUnauthorized, ...(firstError ? { firstError } : {}), ...(o.handoff ? { preloaded: loaded } : {}) };
}

/**
 * A recorded record under the replay's run and shadow id. The recorded legacy does not run in a
 * baseline replay, so none of its writes can reach the candidate's reads: its end marker says
 * its pre-state was secured, whatever production's handoff did at the time.
 */
function rekeyed(rec: SideRecord, shadowId: string, runId: string): SideRecord {
  if (rec.type === 'effect') return { ...rec, shadowId, runId } as EffectRecord;
  const { prestateReason: _reason, ...end } = rec;
  return { ...end, shadowId, runId, prestate: 'handoff' } as EndRecord;
}

/**
 * The bytes to send for a body as the proxy recorded it (core/body.ts), or why it cannot be
 * sent: the recording kept only its size and hash, or a form's files.
 */
export function requestBody(body: unknown, contentType = ''): Buffer | null | string {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return Buffer.from(body);
  if (typeof body !== 'object') return Buffer.from(JSON.stringify(body));
  const o = body as Record<string, unknown>;
  if ('$truncated' in o) return 'request body not recorded (over the size cap)';
  if ('$unparsed' in o && Object.keys(o).length === 1) return 'request body not kept (neither JSON nor a form: only its size and hash were recorded; keep it with record.rawBodies for this route)';
  const bin = o.$binary as { base64?: unknown } | undefined;
  if (bin && typeof bin.base64 === 'string' && Object.keys(o).length === 1) return Buffer.from(bin.base64, 'base64');
  if (/multipart\/form-data/i.test(contentType)) return 'request body is a multipart form: its files were recorded as their size and hash only';
  if (/x-www-form-urlencoded/i.test(contentType) && !Array.isArray(o)) {
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(o)) for (const v of Array.isArray(value) ? value : [value]) form.append(unescapeKey(name), typeof v === 'string' ? v : JSON.stringify(v));
    return Buffer.from(form.toString());
  }
  return Buffer.from(JSON.stringify(body));
}

/** `header:NAME` or `path:REGEX` (the first capture group, else the whole match) → a key function. */
export function orderingKey(spec: string): (x: ExchangeRecord) => string | undefined {
  const i = spec.indexOf(':');
  const kind = spec.slice(0, i);
  const arg = spec.slice(i + 1);
  if (kind === 'header' && arg) {
    const name = arg.toLowerCase();
    return (x) => x.request.headers?.[name];
  }
  if (kind === 'path' && arg) {
    const re = new RegExp(arg);
    return (x) => {
      const m = re.exec(x.request.path);
      return m ? (m[1] ?? m[0]) : undefined;
    };
  }
  throw new ShadowdiffError('SHADOWDIFF_USAGE', `--key "${spec}" must be header:NAME or path:REGEX, e.g. path:/orders/([^/]+).`, { key: spec });
}
