// Generated keys mapped between sides for one request: when paired creates carry different
// generated ids (legacy ObjectId X, candidate ObjectId Y), every later reference to Y on the
// candidate side is read as X, so an update by that _id or an event carrying it compares
// equal instead of flooding the report with id noise. Only id-like values are mapped: a
// business key that differs is a real difference and stays one.
import { isGeneratedId, tagOf } from '../../core/tagged';
import { stableStringify } from './normalize';

/** Walks two normalized values in parallel and records candidate → legacy for differing generated ids. */
export function learnIds(legacy: unknown, candidate: unknown, into: Map<string, unknown>, depth = 0): void {
  if (depth > 64 || legacy === candidate) return;
  if (isGeneratedId(legacy) && isGeneratedId(candidate)) {
    const k = stableStringify(candidate);
    if (k !== stableStringify(legacy) && !into.has(k)) into.set(k, legacy);
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
