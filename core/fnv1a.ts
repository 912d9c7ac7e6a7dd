// A stable 32-bit hash for bucketing requests (sampling, the cutover's live share).

/** FNV-1a, 32 bits: stable across processes and versions, cheap on the request path. */
export function fnv1a(salt: string, value: string): number {
  let h = 0x811c9dc5;
  const text = `${salt}\u0000${value}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
