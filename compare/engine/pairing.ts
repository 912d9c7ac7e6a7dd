// Pairing: which candidate effect answers which legacy effect. Within one (kind, target)
// group, effects with a key pair by key (in seq order when a key repeats); keyless effects
// pair so that the total number of differences is smallest; the rest are missing or extra.
import { munkres } from 'munkres';
import { countDifferences } from './equal';

/** What pairing needs of an effect: a key (canonical string) and its normalized value. */
export interface Pairable {
  readonly seq: number;
  readonly key: string | undefined;
  readonly value: unknown;
}

export interface Pairing<T extends Pairable> {
  pairs: { legacy: T; candidate: T; by: 'key' | 'order' | 'similarity' }[];
  missing: T[];
  extra: T[];
}

/** Above this many keyless effects a side, similarity pairing falls back to seq order. */
export const MAX_SIMILARITY_PAIRING = 32;

export function pairEffects<T extends Pairable>(legacy: readonly T[], candidate: readonly T[]): Pairing<T> {
  const result: Pairing<T> = { pairs: [], missing: [], extra: [] };
  const byKey = new Map<string, T[]>();
  const keylessL: T[] = [];
  for (const l of legacy) {
    if (l.key === undefined) keylessL.push(l);
    else {
      const list = byKey.get(l.key);
      if (list) list.push(l);
      else byKey.set(l.key, [l]);
    }
  }
  const keylessC: T[] = [];
  for (const c of candidate) {
    if (c.key === undefined) {
      keylessC.push(c);
      continue;
    }
    const l = byKey.get(c.key)?.shift();
    if (l) result.pairs.push({ legacy: l, candidate: c, by: 'key' });
    else result.extra.push(c);
  }
  for (const rest of byKey.values()) result.missing.push(...rest);
  pairKeyless(keylessL, keylessC, result);
  return result;
}

function pairKeyless<T extends Pairable>(legacy: T[], candidate: T[], out: Pairing<T>): void {
  if (legacy.length === 0 || candidate.length === 0) {
    out.missing.push(...legacy);
    out.extra.push(...candidate);
    return;
  }
  if (legacy.length === 1 && candidate.length === 1) {
    out.pairs.push({ legacy: legacy[0]!, candidate: candidate[0]!, by: 'order' });
    return;
  }
  if (legacy.length > MAX_SIMILARITY_PAIRING || candidate.length > MAX_SIMILARITY_PAIRING) {
    const n = Math.min(legacy.length, candidate.length);
    for (let i = 0; i < n; i++) out.pairs.push({ legacy: legacy[i]!, candidate: candidate[i]!, by: 'order' });
    out.missing.push(...legacy.slice(n));
    out.extra.push(...candidate.slice(n));
    return;
  }
  // Minimum-cost assignment (Hungarian algorithm): the pairing with the fewest differences
  // in total. Closeness in order is added as a tie-breaker too small to outweigh one
  // difference, so among equally good pairings the original order holds.
  const tieScale = 2 * MAX_SIMILARITY_PAIRING * MAX_SIMILARITY_PAIRING;
  const matrix = legacy.map((l, i) => candidate.map((c, j) => countDifferences(l.value, c.value) * tieScale + Math.abs(i - j)));
  const usedL = new Set<number>();
  const usedC = new Set<number>();
  const made: { legacy: T; candidate: T; by: 'similarity' }[] = [];
  for (const [i, j] of munkres(matrix)) {
    usedL.add(i);
    usedC.add(j);
    made.push({ legacy: legacy[i]!, candidate: candidate[j]!, by: 'similarity' });
  }
  made.sort((a, b) => a.legacy.seq - b.legacy.seq);
  out.pairs.push(...made);
  legacy.forEach((l, i) => usedL.has(i) || out.missing.push(l));
  candidate.forEach((c, j) => usedC.has(j) || out.extra.push(c));
}
