// Structural equality of normalized values, and a bounded count of their differences. The
// equality check is the healthy path: most effects match, and recognising that must cost far
// less than a diff. Inputs are normalized (bounded depth), so recursion is safe here.

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  }
  const arr = Array.isArray(a);
  if (arr !== Array.isArray(b)) return false;
  if (arr) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!deepEqual(x[i], y[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    n++;
    if (!Object.prototype.hasOwnProperty.call(y, k) || !deepEqual(x[k], y[k])) return false;
  }
  for (const _ in y) n--;
  return n === 0;
}

/**
 * How many leaves differ between two normalized values, counting at most `cap`: the cost
 * used to pick, among keyless effects, the pairing with the fewest differences.
 */
export function countDifferences(a: unknown, b: unknown, cap = 64): number {
  const acc = { n: 0, cap };
  count(a, b, acc);
  return Math.min(acc.n, cap);
}

function count(a: unknown, b: unknown, acc: { n: number; cap: number }): void {
  if (acc.n >= acc.cap || a === b) return;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) {
    if (!deepEqual(a, b)) acc.n += 1;
    return;
  }
  if (Array.isArray(a)) {
    const y = b as unknown[];
    const len = Math.max(a.length, y.length);
    for (let i = 0; i < len && acc.n < acc.cap; i++) count(a[i], y[i], acc);
    return;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const k in x) {
    if (Object.prototype.hasOwnProperty.call(y, k)) count(x[k], y[k], acc);
    else acc.n += 1;
    if (acc.n >= acc.cap) return;
  }
  for (const k in y) if (!Object.prototype.hasOwnProperty.call(x, k)) acc.n += 1;
}
