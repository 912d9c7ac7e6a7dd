// The reverse delta of effect format 2 (docs/effect-format.md, "Format 2: undo"). An update
// ships its `after` image and, instead of a second full image, `undo`: what to change in
// `after` to get `before` back — each entry a path and the value the path held before, or no
// value where the path did not exist. The SDK computes it from the two images it has (already
// redacted); the worker rebuilds `before` from it when it reads the record, so the comparison,
// the rules, the report and the store see both images as in format 1.
//
// The rebuilt `before` shares with `after` every part the update left alone (nothing in the
// pipeline mutates a record's images: canonicalize functions get a copy). Where the update
// removed a key, the rebuilt object has it last: key order is not part of a document's value
// here (comparisons and fingerprints ignore it).

/** One step back: `path` (object keys and array indexes from the document's root) held `before`; absent `before`: the path did not exist. */
export interface UndoEntry {
  path: (string | number)[];
  before?: unknown;
}

/** At most this many entries: an update that changes more ships `before` whole. */
export const MAX_UNDO_ENTRIES = 10_000;
/** Paths nest at most this deep (values are cut at 200 levels by the SDK). */
export const MAX_UNDO_DEPTH = 256;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * What turns `after` back into `before`, or undefined when the two are not both documents
 * (objects), or the delta would take more than MAX_UNDO_ENTRIES entries or nest deeper than
 * MAX_UNDO_DEPTH (then the record ships `before` whole, as in format 1). Arrays of the same length are followed element
 * by element; an array whose length changed is one entry with the whole previous array.
 */
export function reverseDelta(before: unknown, after: unknown): UndoEntry[] | undefined {
  if (!isObject(before) || !isObject(after)) return undefined;
  const out: UndoEntry[] = [];
  const path: (string | number)[] = [];
  const walk = (b: unknown, a: unknown): boolean => {
    if (b === a) return true;
    if (out.length > MAX_UNDO_ENTRIES || path.length >= MAX_UNDO_DEPTH) return false;
    if (Array.isArray(b) && Array.isArray(a) && b.length === a.length) {
      for (let i = 0; i < b.length; i++) {
        path.push(i);
        const ok = walk(b[i], a[i]);
        path.pop();
        if (!ok) return false;
      }
      return true;
    }
    if (isObject(b) && isObject(a)) {
      for (const key in b) {
        if (!Object.prototype.hasOwnProperty.call(b, key)) continue;
        path.push(key);
        const ok = Object.prototype.hasOwnProperty.call(a, key) ? walk(b[key], a[key]) : (out.push({ path: [...path], before: b[key] }), true);
        path.pop();
        if (!ok) return false;
      }
      for (const key in a) {
        if (Object.prototype.hasOwnProperty.call(a, key) && !Object.prototype.hasOwnProperty.call(b, key)) out.push({ path: [...path, key] });
      }
      return true;
    }
    // A changed scalar, a changed type, an array whose length changed: the previous value whole.
    out.push({ path: [...path], before: b });
    return true;
  };
  if (!walk(before, after) || out.length > MAX_UNDO_ENTRIES) return undefined;
  return out;
}

/**
 * The undo a format 2 writer ships instead of `before`: for an update or a replace whose two
 * images are documents (reverseDelta), otherwise undefined (`before` travels whole).
 */
export function undoFor(op: string, before: unknown, after: unknown): UndoEntry[] | undefined {
  return op === 'update' || op === 'replace' ? reverseDelta(before, after) : undefined;
}

/**
 * `before` rebuilt from `after` and its undo entries, copying only the objects and arrays on
 * the entries' paths. Throws an Error naming the entry that does not fit `after` (a path
 * through something that is not an object or array there, or an index beyond an array); the
 * caller refuses the record with it.
 */
export function applyUndo(after: Record<string, unknown>, undo: readonly UndoEntry[]): Record<string, unknown> {
  const copied = new Set<object>();
  const own = (node: object): object => {
    if (copied.has(node)) return node;
    const copy = Array.isArray(node) ? node.slice() : { ...(node as Record<string, unknown>) };
    copied.add(copy);
    return copy;
  };
  const root = own(after) as Record<string, unknown>;
  undo.forEach((entry, i) => {
    const { path } = entry;
    let node: Record<string | number, unknown> = root;
    for (let k = 0; k < path.length - 1; k++) {
      const seg = path[k]!;
      const child = fits(node, seg) ? node[seg] : undefined;
      if (child === null || typeof child !== 'object') throw new Error(`undo[${i}]: the path ${JSON.stringify(path.slice(0, k + 1))} is not an object or array in "after"`);
      const mine = own(child) as Record<string | number, unknown>;
      node[seg] = mine;
      node = mine;
    }
    const last = path[path.length - 1]!;
    if (Array.isArray(node) ? typeof last !== 'number' || last >= node.length : typeof last !== 'string') {
      throw new Error(`undo[${i}]: ${JSON.stringify(last)} cannot index ${Array.isArray(node) ? `an array of ${node.length}` : 'an object'} in "after"`);
    }
    if ('before' in entry) node[last] = entry.before;
    else if (Array.isArray(node)) throw new Error(`undo[${i}]: an array element cannot be absent (an array whose length changed is undone whole)`);
    else delete node[last];
  });
  return root;
}

function fits(node: object, seg: string | number): boolean {
  return Array.isArray(node) ? typeof seg === 'number' && seg < node.length : typeof seg === 'string' && Object.prototype.hasOwnProperty.call(node, seg);
}
