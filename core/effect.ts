// The effect format, a public contract: the records every side publishes (effects and end
// markers), as zod schemas from which the TypeScript types are inferred. docs/effect-format.md
// and docs/effect-format.schema.json describe the same thing for services in other languages.
import { z } from 'zod';
import { ShadowdiffError } from './errors';
import { MODES } from './headers';
import { applyUndo, MAX_UNDO_DEPTH, MAX_UNDO_ENTRIES } from './undo';
import { READABLE } from './issues';

/**
 * The version writers put in `v`. Format 2 is format 1 with `undo`, the reverse delta of an
 * update (core/undo.ts); readers take both.
 * @public
 */
export const FORMAT_VERSION = 2;
/** The versions this shadowdiff reads. */
export const FORMAT_VERSIONS = [1, 2] as const;
export type FormatVersion = (typeof FORMAT_VERSIONS)[number];
/** A record's `v`; with `.default(FORMAT_VERSION)`, the `format` setting of the SDK and the proxy. */
export const formatVersionSchema = z.union([z.literal(1), z.literal(2)]);

export const SIDES = ['legacy', 'candidate', 'secondary'] as const;
export const EFFECT_KINDS = ['db', 'message', 'http', 'response'] as const;
export const OPS_BY_KIND = {
  db: ['insert', 'update', 'replace', 'delete'],
  message: ['publish'],
  http: ['call'],
  response: ['respond'],
} as const;

export type Side = (typeof SIDES)[number];
export const PRESTATES = ['handoff', 'unknown'] as const;
export type PreState = (typeof PRESTATES)[number];
/** At most this many reads are listed in an end marker. */
export const MAX_READS = 256;
export type EffectKind = (typeof EFFECT_KINDS)[number];

const id = z.string().min(1).max(200);
const timestamp = z.iso.datetime({ offset: true });
/** Any JSON value; typed values use Extended JSON tags (see tagged.ts). */
const json = z.unknown();

const common = {
  v: formatVersionSchema,
  runId: id,
  shadowId: id,
  side: z.enum(SIDES),
  at: timestamp,
};

/** @public */
export const effectRecordSchema = z
  .object({
    ...common,
    type: z.literal('effect'),
    seq: z.number().int().nonnegative(),
    kind: z.enum(EFFECT_KINDS),
    target: z.string().min(1).max(500),
    op: z.enum(['insert', 'update', 'replace', 'delete', 'publish', 'call', 'respond']),
    key: json.optional(),
    before: json.optional(),
    after: json.optional(),
    /**
     * Format 2: instead of `before`, what turns `after` back into it (core/undo.ts). A reader
     * rebuilds `before` and drops `undo`, so what it hands on has both images, as in format 1.
     */
    undo: z
      .array(
        z
          .object({
            path: z
              .array(z.union([z.string().max(1000).refine((k) => k !== '__proto__', 'a "__proto__" segment (it could pollute object prototypes)'), z.number().int().nonnegative().max(100_000_000)]))
              .min(1)
              .max(MAX_UNDO_DEPTH),
            before: json.optional(),
          })
          .strict(),
      )
      .max(MAX_UNDO_ENTRIES)
      .optional(),
    payload: json.optional(),
    meta: z.record(z.string(), json).optional(),
    /** `failed` when a live operation threw: the effect was attempted but did not happen. */
    status: z.enum(['ok', 'failed']).optional(),
    error: z.string().max(2000).optional(),
  })
  .superRefine((r, ctx) => {
    const ops: readonly string[] = OPS_BY_KIND[r.kind];
    if (!ops.includes(r.op)) {
      ctx.addIssue({
        code: 'custom',
        path: ['op'],
        message: `op "${r.op}" does not go with kind "${r.kind}" (expected ${ops.join('|')})`,
      });
    }
    if (r.undo !== undefined) {
      const why =
        r.v < 2
          ? 'is format 2 (set "v": 2)'
          : r.op !== 'update' && r.op !== 'replace'
            ? `goes with op update or replace, not ${r.op}`
            : r.before !== undefined
              ? 'replaces "before": a record has one or the other'
              : r.after === null || typeof r.after !== 'object' || Array.isArray(r.after)
                ? 'needs "after" to be a document (an object)'
                : undefined;
      if (why) ctx.addIssue({ code: 'custom', path: ['undo'], message: `"undo" ${why}` });
    }
  });

/** @public */
export const endRecordSchema = z.object({
  ...common,
  type: z.literal('end'),
  /** How many effects this side emitted for the shadow id (seq 0 … count-1). */
  count: z.number().int().nonnegative(),
  /** Effects the side's SDK had to drop (buffer full): the comparison cannot be complete. */
  dropped: z.number().int().nonnegative().optional(),
  request: z.object({
    method: z.string().min(1).max(20),
    path: z.string().max(4000),
    route: z.string().max(500).optional(),
  }),
  status: z.number().int().min(0).max(999).optional(),
  error: z.string().max(2000).optional(),
  /** The request came through a recorder (proxy, replay) that sends an `exchange` record: wait for it. */
  exchange: z.boolean().optional(),
  /**
   * How the side ran the request, where it is not its usual mode (legacy live, the others
   * dry-run): in a cutover, the candidate serves some requests live and legacy runs their mirror in dry-run.
   */
  mode: z.enum(MODES).optional(),
  /**
   * The pre-state handoff (design decision 3a). `handoff`: every write of a live side was handed
   * off before it was made, or every read of a dry-run side was rewound with the handoff;
   * `unknown`: at least one could not be (the reason says why) and the comparison is inconclusive.
   * Absent: the side's SDK has no handoff configured.
   */
  prestate: z.enum(PRESTATES).optional(),
  prestateReason: z.string().max(500).optional(),
  /**
   * A dry-run side that could not rely on a handoff: the documents it read from the database,
   * each with a fingerprint of its redacted effect-format JSON (see core/fingerprint.ts), so the
   * comparator can tell when it read the live side's own write of the same request.
   */
  reads: z.array(z.object({ target: z.string().min(1).max(500), key: json, fp: z.string().min(1).max(64) })).max(MAX_READS).optional(),
  /** Reads beyond MAX_READS, counted, not listed. */
  readsOmitted: z.number().int().nonnegative().optional(),
});

const headerMap = z.record(z.string(), z.string());

const exchangeResponse = z.object({
  status: z.number().int().min(0).max(999).optional(),
  headers: headerMap.optional(),
  body: json.optional(),
  /** Milliseconds from sending the request to the end of the response. */
  ms: z.number().nonnegative().optional(),
  /** Why there is no response (refused, timed out, reset, circuit open…). */
  error: z.string().max(2000).optional(),
});

/**
 * One mirrored request as the recorder in front of the services saw it (already redacted):
 * the request and each side's response. The comparator turns each response into a `response`
 * effect of that side unless the side's SDK recorded one itself.
 * @public
 */
export const exchangeRecordSchema = z.object({
  v: common.v,
  runId: common.runId,
  shadowId: common.shadowId,
  at: common.at,
  type: z.literal('exchange'),
  request: z.object({
    method: z.string().min(1).max(20),
    path: z.string().max(4000),
    route: z.string().max(500).optional(),
    headers: headerMap.optional(),
    body: json.optional(),
  }),
  responses: z.object({ legacy: exchangeResponse.optional(), candidate: exchangeResponse.optional(), secondary: exchangeResponse.optional() }),
  /**
   * Whether the services' own records take part (default true: their end markers say when a
   * side is complete). false: only the responses here are compared; this record alone
   * completes the request and anything an SDK sends for it is ignored.
   */
  sdk: z.boolean().optional(),
  /** Replay: the shadow id of the recorded request this one replays. */
  replayOf: id.optional(),
  /**
   * Cutover: who served the request live. `candidate`: the candidate's effects really happened
   * and legacy's are what it would have done (dry-run); legacy stays the reference. Absent: legacy.
   */
  served: z.enum(['legacy', 'candidate']).optional(),
});

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/**
 * What a recorder in front of the services (a proxy instance) saw of a run, so that what it did
 * not mirror reaches the store (design decision 12): its totals since it started, published
 * every few seconds and when it stops. Totals, not increments, so a redelivered or reordered
 * record changes nothing: a reader keeps the highest of each. Bus only; not a recording line.
 * @public
 */
export const coverageRecordSchema = z.object({
  v: common.v,
  type: z.literal('coverage'),
  runId: common.runId,
  /** Routes the record to a partition only: `coverage:<source>`. */
  shadowId: common.shadowId,
  at: common.at,
  /** The publisher: one proxy process (a random id for its lifetime). */
  source: z.string().min(1).max(200),
  /** Requests it forwarded. */
  seen: count,
  /** Requests it mirrored to the candidate. */
  mirrored: count,
  /** Requests it did not mirror, by reason (sampled-out, circuit-open, mirror-busy, …). */
  notMirrored: z.record(z.string().min(1).max(100), count),
  /** Exchanges it could not send (its buffer full, its sink down): mirrored, never compared. */
  dropped: count,
});

export type CoverageRecord = z.infer<typeof coverageRecordSchema>;
/** Anything a sink accepts: the records of requests, and recorders' coverage. */
export type WireRecord = ShadowRecord | CoverageRecord;

/** A request's record, or a recorder's coverage: what a worker and a collector accept. */
export function parseWireRecord(value: unknown, where = 'record'): WireRecord {
  if (value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'coverage' && FORMAT_VERSIONS.includes((value as { v?: unknown }).v as FormatVersion)) {
    checkShape(value, where);
    return validated(coverageRecordSchema, value, where);
  }
  return parseRecord(value, where);
}

export type EffectRecord = z.infer<typeof effectRecordSchema>;
export type EndRecord = z.infer<typeof endRecordSchema>;
export type ExchangeRecord = z.infer<typeof exchangeRecordSchema>;
export type ExchangeResponse = z.infer<typeof exchangeResponse>;
/** What one side of one request emits. */
export type SideRecord = EffectRecord | EndRecord;
/** Anything that travels on the bus: a side's records, or the recorder's exchange. */
export type ShadowRecord = SideRecord | ExchangeRecord;

/**
 * Effect seqs at or above this number (and at or above the side's count) belong to work the
 * request caused elsewhere — a consumer of a message it published, a partner it called — and
 * reach the comparator after the end marker (see SEQ_BASE_HEADER). Seqs between the count and
 * this number contradict the end marker.
 */
export const CHILD_SEQ_STRIDE = 1000;

const TYPES: Record<string, z.ZodType<ShadowRecord>> = {
  effect: effectRecordSchema,
  end: endRecordSchema,
  exchange: exchangeRecordSchema,
};

/**
 * Validates one decoded record. Throws SHADOWDIFF_BAD_RECORD naming the first wrong field;
 * `where` (e.g. "orders.jsonl:12") prefixes the message.
 * @public
 */
export function parseRecord(value: unknown, where = 'record'): ShadowRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badRecord(where, `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  }
  checkShape(value, where);
  const obj = value as Record<string, unknown>;
  if (!FORMAT_VERSIONS.includes(obj.v as FormatVersion)) {
    throw badRecord(
      where,
      obj.v === undefined
        ? 'field "v" is missing (the format version; this shadowdiff reads 1 and 2)'
        : `unsupported format version ${JSON.stringify(obj.v)} (this shadowdiff reads 1 and 2)`,
    );
  }
  const schema = typeof obj.type === 'string' && Object.prototype.hasOwnProperty.call(TYPES, obj.type) ? TYPES[obj.type] : undefined;
  if (!schema) {
    throw badRecord(where, `field "type" must be one of ${Object.keys(TYPES).join('|')}, got ${JSON.stringify(obj.type)}`);
  }
  // The records SDKs write most (effects and end markers with only known fields) are checked
  // by hand, field by field as the schemas say, and taken as they are: no copy. Anything else,
  // or anything the hand check does not pass, goes through the schema, which names what is wrong.
  const fast = obj.type === 'effect' ? fastEffect(obj) : obj.type === 'end' && fastEnd(obj);
  const record = fast ? (obj as unknown as ShadowRecord) : validated(schema, value, where);
  if (record.type !== 'effect' || !record.undo) return record;
  // The caller's object is left as it was: the rebuilt record is a new one.
  const { undo, ...rest } = record;
  try {
    return { ...rest, before: applyUndo(record.after as Record<string, unknown>, undo) };
  } catch (err) {
    throw badRecord(where, `field "undo": ${(err as Error).message}`, 'undo');
  }
}

/** The value as the schema parses it, or SHADOWDIFF_BAD_RECORD naming the first wrong field. */
function validated<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value, READABLE);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.length ? issue.path.join('.') : '(record)';
    throw badRecord(where, `field "${field}": ${issue.message}`, field);
  }
  return result.data;
}

/** Records nest at most this deep: values cut at 200 levels by the SDK, plus the record around them. */
export const MAX_RECORD_DEPTH = 300;

const DEEPER = 'deeper';

/**
 * Refuses a record nested deeper than any SDK or proxy writes (they cut values at 200 levels;
 * serializing it again would overflow the stack), or holding a key that could pollute object
 * prototypes: a record is checked on its own, so that one bad record costs its pack nothing else.
 */
function checkShape(value: unknown, where: string): void {
  const shape = shapeProblem(value, MAX_RECORD_DEPTH);
  if (shape === DEEPER) throw badRecord(where, `nested deeper than ${MAX_RECORD_DEPTH} levels`);
  if (shape) throw badRecord(where, `refused a ${shape} key (it could pollute object prototypes); an SDK writes such keys escaped (docs/effect-format.md)`);
}

/**
 * DEEPER when the value nests `max` levels or more; `"__proto__"` or `"constructor.prototype"`
 * when it holds such a key (JSON.parse makes them own properties, which a later merge or copy
 * could turn into prototype pollution); undefined when it is neither. Recursion stops at `max`
 * levels, so a hostile value cannot overflow the stack here; it allocates nothing (this walk
 * runs over every object of every record the worker receives).
 */
function shapeProblem(value: unknown, max: number, depth = 0): string | undefined {
  if (depth >= max) return DEEPER;
  if (Array.isArray(value)) {
    for (const x of value) {
      if (x !== null && typeof x === 'object') {
        const p = shapeProblem(x, max, depth + 1);
        if (p) return p;
      }
    }
    return undefined;
  }
  const obj = value as Record<string, unknown>;
  for (const key in obj) {
    if (key === '__proto__') return '"__proto__"';
    const x = obj[key];
    if (x !== null && typeof x === 'object') {
      if (key === 'constructor' && Object.prototype.hasOwnProperty.call(x, 'prototype')) return '"constructor.prototype"';
      const p = shapeProblem(x, max, depth + 1);
      if (p) return p;
    }
  }
  return undefined;
}

// The hand checks: each passes only what its schema passes (test/unit/core/effect.test.ts runs
// both over the same valid and broken records), and nothing the schema would change (unknown
// fields, which the schema strips, send the record to the schema).
const TIMESTAMP = timestamp._zod.def.pattern as RegExp;
const SIDE_SET: ReadonlySet<unknown> = new Set(SIDES);
const EFFECT_FIELDS = new Set(['v', 'type', 'runId', 'shadowId', 'side', 'at', 'seq', 'kind', 'target', 'op', 'key', 'before', 'after', 'undo', 'payload', 'meta', 'status', 'error']);
const END_FIELDS = new Set(['v', 'type', 'runId', 'shadowId', 'side', 'at', 'count', 'dropped', 'request', 'status', 'error', 'exchange', 'mode', 'prestate', 'prestateReason', 'reads', 'readsOmitted']);
const REQUEST_FIELDS = new Set(['method', 'path', 'route']);
const READ_FIELDS = new Set(['target', 'key', 'fp']);

const str = (v: unknown, min: number, max: number): boolean => typeof v === 'string' && v.length >= min && v.length <= max;
const count0 = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const plainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
function onlyFields(o: Record<string, unknown>, fields: ReadonlySet<string>): boolean {
  for (const k in o) if (!fields.has(k) || o[k] === undefined) return false;
  return true;
}

function fastCommon(o: Record<string, unknown>): boolean {
  return str(o.runId, 1, 200) && str(o.shadowId, 1, 200) && SIDE_SET.has(o.side) && typeof o.at === 'string' && TIMESTAMP.test(o.at);
}

function fastEffect(o: Record<string, unknown>): boolean {
  if (!onlyFields(o, EFFECT_FIELDS) || !fastCommon(o) || !count0(o.seq) || !str(o.target, 1, 500)) return false;
  // Own keys only: a kind such as "toString" must go to the schema, which names it, not reach Object's members.
  const ops = typeof o.kind === 'string' && Object.prototype.hasOwnProperty.call(OPS_BY_KIND, o.kind) ? (OPS_BY_KIND as Record<string, readonly string[]>)[o.kind] : undefined;
  if (!ops || !ops.includes(o.op as string)) return false;
  if (o.meta !== undefined && !plainObject(o.meta)) return false;
  if (o.status !== undefined && o.status !== 'ok' && o.status !== 'failed') return false;
  if (o.error !== undefined && !str(o.error, 0, 2000)) return false;
  if (o.undo === undefined) return true;
  if (o.v !== 2 || (o.op !== 'update' && o.op !== 'replace') || o.before !== undefined || !plainObject(o.after)) return false;
  const undo = o.undo;
  if (!Array.isArray(undo) || undo.length > MAX_UNDO_ENTRIES) return false;
  for (const entry of undo) {
    if (!plainObject(entry)) return false;
    for (const k in entry) if (k !== 'path' && k !== 'before') return false;
    const path = entry.path;
    if (!Array.isArray(path) || path.length < 1 || path.length > MAX_UNDO_DEPTH) return false;
    for (const seg of path) {
      if (typeof seg === 'string' ? seg.length > 1000 || seg === '__proto__' : !(count0(seg) && (seg as number) <= 100_000_000)) return false;
    }
  }
  return true;
}

function fastEnd(o: Record<string, unknown>): boolean {
  if (!onlyFields(o, END_FIELDS) || !fastCommon(o) || !count0(o.count)) return false;
  const r = o.request;
  if (!plainObject(r) || !onlyFields(r, REQUEST_FIELDS) || !str(r.method, 1, 20) || !str(r.path, 0, 4000) || (r.route !== undefined && !str(r.route, 0, 500))) return false;
  if (o.dropped !== undefined && !count0(o.dropped)) return false;
  if (o.status !== undefined && !(count0(o.status) && (o.status as number) <= 999)) return false;
  if (o.error !== undefined && !str(o.error, 0, 2000)) return false;
  if (o.exchange !== undefined && typeof o.exchange !== 'boolean') return false;
  if (o.mode !== undefined && o.mode !== 'live' && o.mode !== 'dry-run') return false;
  if (o.prestate !== undefined && o.prestate !== 'handoff' && o.prestate !== 'unknown') return false;
  if (o.prestateReason !== undefined && !str(o.prestateReason, 0, 500)) return false;
  if (o.readsOmitted !== undefined && !count0(o.readsOmitted)) return false;
  if (o.reads !== undefined) {
    if (!Array.isArray(o.reads) || o.reads.length > MAX_READS) return false;
    for (const read of o.reads) {
      if (!plainObject(read) || !onlyFields(read, READ_FIELDS) || !str(read.target, 1, 500) || !('key' in read) || !str(read.fp, 1, 64)) return false;
    }
  }
  return true;
}

function badRecord(where: string, message: string, field?: string): ShadowdiffError {
  return new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${where}: ${message}.`, { where, field });
}
