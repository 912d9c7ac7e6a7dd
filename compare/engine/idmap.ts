// Generated keys mapped between sides for one request: when paired creates carry different
// generated ids (legacy ObjectId X, candidate ObjectId Y), every later reference to Y on the
// candidate side is read as X, so an update by that _id or an event carrying it compares
// equal instead of flooding the report with id noise. Only id-like values are mapped: a
// business key that differs is a real difference and stays one.
import { canonicalTagged, isGeneratedId, tagOf } from '../../core/tagged';

/** Candidate id → legacy id, keyed by the raw value (a string, or a tag and its value). */
export class IdMap {
  private readonly map = new Map<string, unknown>();
  /** The same mapping by keys on both sides, for comparing typed ids without building values. */
  private readonly keys = new Map<string, string>();

  get size(): number {
    return this.map.size;
  }

  learn(candidate: unknown, legacy: unknown): void {
    const k = idKey(candidate);
    const l = idKey(legacy);
    if (k !== undefined && l !== undefined && k !== l && !this.map.has(k)) {
      this.map.set(k, legacy);
      this.keys.set(k, l);
      // An ObjectId travels as its hex string too (`comment.id` in a response, an event's
      // `articleId`): the same mapping holds for that form.
      if (k.startsWith(OID) && l.startsWith(OID)) this.learn(k.slice(OID.length), l.slice(OID.length));
    }
  }

  /** Whether the candidate id with this key was mapped to the legacy id with that key. */
  maps(candidateKey: string, legacyKey: string): boolean {
    return this.keys.get(candidateKey) === legacyKey;
  }

  /** The legacy id a candidate value stands for, or the value itself. */
  lookup(value: unknown): unknown {
    if (this.map.size === 0) return value;
    const k = idKey(value);
    if (k === undefined) return value;
    const hit = this.map.get(k);
    return hit === undefined ? value : hit;
  }

  toJSON(): Record<string, unknown> {
    return Object.fromEntries(this.map);
  }
}

const OID = '$oid:';

// Typed values are keyed by their canonical form ({"$oid": "…"} in lower case).
function idKey(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const tag = tagOf(value);
  if (!tag) return undefined;
  const canonical = canonicalTagged(value as Record<string, unknown>, tag);
  if (canonical === null || typeof canonical !== 'object') return undefined;
  const [[k, v]] = Object.entries(canonical) as [[string, unknown]];
  return typeof v === 'string' ? `${k}:${v}` : `${k}:${JSON.stringify(v)}`;
}

/** Walks two normalized values in parallel and records candidate → legacy for differing generated ids. */
export function learnIds(legacy: unknown, candidate: unknown, into: IdMap, depth = 0): void {
  if (depth > 64 || legacy === candidate) return;
  if (isGeneratedId(legacy) && isGeneratedId(candidate)) {
    into.learn(candidate, legacy);
    return;
  }
  if (legacy === null || candidate === null || typeof legacy !== 'object' || typeof candidate !== 'object') return;
  if (tagOf(legacy) || tagOf(candidate)) return;
  if (Array.isArray(legacy)) {
    if (!Array.isArray(candidate)) return;
    const n = Math.min(legacy.length, candidate.length);
    for (let i = 0; i < n; i++) learnIds(legacy[i], candidate[i], into, depth + 1);
    return;
  }
  for (const key of Object.keys(legacy)) {
    if (Object.prototype.hasOwnProperty.call(candidate, key)) {
      learnIds((legacy as Record<string, unknown>)[key], (candidate as Record<string, unknown>)[key], into, depth + 1);
    }
  }
}
