// The pre-state handoff port (design decision 3a). Before a live write inside a shadowed
// request, the live SDK puts the before-images of the documents it is about to touch here,
// under (run, shadow id), and writes only once the put is acknowledged. The dry-run SDK reads
// the database first and the handoff second, and rewinds what it finds: a miss proves the live
// write had not happened yet when the dry-run read. Adapters: memory (one process), redis
// (shared by proxies and services), http (hosted by `shadowdiff proxy` or `shadowdiff replay`).
// Every adapter keeps the same semantics, checked by one contract suite.

/** The before-image of one document the live side wrote in this request. Values are in the effect format's tagged JSON. */
export interface HandoffImage {
  /** `<database>.<collection>` */
  ns: string;
  /** The document's _id (tagged JSON). */
  id: unknown;
  /** The document before the request's first write to it; null: it did not exist (an insert, an upsert). */
  before: Record<string, unknown> | null;
}

/**
 * A live upsert whose _id is only known once the server made it: announced before the write
 * (`ids` absent: pending), resolved after it with the ids it inserted (empty: it matched and inserted nothing).
 */
export interface HandoffUpsert {
  token: string;
  ns: string;
  ids?: unknown[];
}

export interface HandoffPut {
  images?: HandoffImage[];
  /** Upserts about to be made (pending), or made (with their ids). */
  upserts?: HandoffUpsert[];
}

export interface HandoffSnapshot {
  images: HandoffImage[];
  upserts: HandoffUpsert[];
}

export interface Handoff {
  readonly kind: 'memory' | 'redis' | 'http';
  /**
   * Adds to the handoff of one request; resolves once it is durable in the store (the live write
   * waits for this). An image already there keeps its first version; a pending upsert never
   * overwrites a resolved one; a resolved one overwrites its pending announcement.
   */
  put(runId: string, shadowId: string, put: HandoffPut): Promise<void>;
  /** Everything handed off for one request so far (empty when nothing was, or it expired). */
  get(runId: string, shadowId: string): Promise<HandoffSnapshot>;
  close(): Promise<void>;
}

export interface HandoffStoreOptions {
  /** A request's handoff expires this long after its last put. */
  ttlMs?: number;
}

export const DEFAULT_HANDOFF_TTL_MS = 30_000;

/** The field an image or upsert is kept under within one request's entry (a Redis hash field, a Map key). */
export function imageField(ns: string, id: unknown): string {
  return `i\u001f${ns}\u001f${JSON.stringify(id)}`;
}

export function upsertField(token: string): string {
  return `u\u001f${token}`;
}

/** Folds a put into one request's fields (memory and the hosted server; redis does the same in one MULTI). */
export function applyPut(fields: Map<string, string>, put: HandoffPut): void {
  for (const img of put.images ?? []) {
    const f = imageField(img.ns, img.id);
    if (!fields.has(f)) fields.set(f, JSON.stringify(img));
  }
  for (const u of put.upserts ?? []) {
    const f = upsertField(u.token);
    if (u.ids !== undefined || !fields.has(f)) fields.set(f, JSON.stringify(u));
  }
}

export function snapshotOf(values: Iterable<string>): HandoffSnapshot {
  const out: HandoffSnapshot = { images: [], upserts: [] };
  for (const v of values) {
    const parsed = JSON.parse(v) as HandoffImage | HandoffUpsert;
    if ('token' in parsed) out.upserts.push(parsed);
    else out.images.push(parsed);
  }
  return out;
}

/** What a put or get is about, checked where it enters a process (the hosted server). */
export function validPut(value: unknown): value is HandoffPut {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const p = value as Record<string, unknown>;
  if (p.images !== undefined) {
    if (!Array.isArray(p.images)) return false;
    for (const i of p.images as Record<string, unknown>[]) {
      if (!i || typeof i !== 'object' || typeof i.ns !== 'string' || !('id' in i) || !('before' in i)) return false;
      if (i.before !== null && (typeof i.before !== 'object' || Array.isArray(i.before))) return false;
    }
  }
  if (p.upserts !== undefined) {
    if (!Array.isArray(p.upserts)) return false;
    for (const u of p.upserts as Record<string, unknown>[]) {
      if (!u || typeof u !== 'object' || typeof u.token !== 'string' || typeof u.ns !== 'string') return false;
      if (u.ids !== undefined && !Array.isArray(u.ids)) return false;
    }
  }
  return true;
}
