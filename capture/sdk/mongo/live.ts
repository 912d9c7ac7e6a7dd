// Live: the write happens exactly as the app issued it, and its effects are recorded. The
// images are read around it: the documents the write's filters match before, the same
// documents (and any upserted) by _id after. Two extra reads per write are the price of
// comparing updates as deltas; image mode `none` skips them. Under concurrent writers to the
// same documents an image may show another writer's change too; the comparator labels
// findings whose sides started from different pre-states.
import type { Collection } from 'mongodb';
import type { Change } from './changes';
import { type Doc, idKey, sameDocument } from './documents';
import { opOf, type WriteMethod, type WriteOp } from './operations';

export interface Images {
  before: Map<string, Doc>;
  /** Per write, the ids its filter matched before the call (in the server's order). */
  matched: unknown[][];
  /** Documents this call inserts (their _id is known before the call), with their write's index. */
  inserted: Doc[];
  insertedAt: number[];
}

/** The images without the inserts a failed call did not make (its writeErrors, and for an ordered call all after the first). */
export function withoutFailedInserts(images: Images, err: unknown, ordered: boolean): Images {
  const failed = ((err as { writeErrors?: { index: number }[] }).writeErrors ?? []).map((w) => w.index);
  if (!failed.length) return images;
  const first = Math.min(...failed);
  const keep = images.insertedAt.map((i) => !failed.includes(i) && (!ordered || i < first));
  return { before: images.before, matched: images.matched, inserted: images.inserted.filter((_, j) => keep[j]), insertedAt: images.insertedAt.filter((_, j) => keep[j]) };
}

/** Reads what the writes will touch, before the call. */
export async function readBefore(collection: Collection, writes: WriteOp[], options: Doc): Promise<Images> {
  const before = new Map<string, Doc>();
  const inserted: Doc[] = [];
  const insertedAt: number[] = [];
  const matched: unknown[][] = writes.map(() => []);
  const session = options.session ? { session: options.session as never } : {};
  for (const [i, w] of writes.entries()) {
    if (w.type === 'insert') {
      inserted.push(w.doc);
      insertedAt.push(i);
      continue;
    }
    // In a bulk write an earlier write changes which document a later single write picks:
    // read everything its filter matches (the after-read keeps only what changed).
    const single = writes.length === 1 && !(w.type !== 'replace' && w.multi);
    const docs = await collection.find(w.filter, { ...session, sort: w.sort as never, limit: single ? 1 : 0, collation: w.collation as never, hint: w.hint as never }).toArray();
    for (const d of docs) {
      before.set(idKey(d._id), d as Doc);
      matched[i]!.push(d._id);
    }
  }
  return { before, matched, inserted, insertedAt };
}

/**
 * Reads the touched documents again after the call and turns the difference into changes, in
 * the order of the writes that touched them (as a dry-run reports them).
 */
export async function readAfter(collection: Collection, method: WriteMethod, images: Images, upserted: Map<number, unknown>, options: Doc): Promise<Change[]> {
  const ids: unknown[] = [];
  images.matched.forEach((list, i) => {
    const at = images.insertedAt.indexOf(i);
    if (at >= 0) ids.push(images.inserted[at]!._id);
    ids.push(...list);
    if (upserted.has(i)) ids.push(upserted.get(i));
  });
  if (!ids.length) return [];
  const session = options.session ? { session: options.session as never } : {};
  const now = new Map<string, Doc>();
  for (const d of await collection.find({ _id: { $in: ids } } as never, session).toArray()) now.set(idKey(d._id), d as Doc);
  const insertedKeys = new Set(images.inserted.map((d) => idKey(d._id)));
  const changes: Change[] = [];
  const seen = new Set<string>();
  for (const id of ids) {
    const key = idKey(id);
    if (seen.has(key)) continue;
    seen.add(key);
    const before = images.before.get(key) ?? null;
    const after = now.get(key) ?? null;
    if (before === null && after === null) continue;
    if (before && after && sameDocument(before, after)) continue;
    let op: Change['op'];
    if (after === null) op = 'delete';
    else if (before === null) op = insertedKeys.has(key) ? 'insert' : method === 'bulkWrite' ? 'update' : opOf(method);
    else op = method === 'bulkWrite' ? 'update' : opOf(method);
    changes.push({ id, op, before, after });
  }
  return changes;
}

/** The ids a call's result says it upserted, by the index of the write that did. */
export function upsertedIds(method: WriteMethod, result: unknown): Map<number, unknown> {
  const out = new Map<number, unknown>();
  if (!result || typeof result !== 'object') return out;
  const r = result as Doc;
  if (method === 'bulkWrite') {
    for (const [i, id] of Object.entries((r.upsertedIds as Doc) ?? {})) out.set(Number(i), id);
  } else if (method.startsWith('findOneAnd')) {
    const upserted = (r.lastErrorObject as Doc | undefined)?.upserted;
    if (upserted !== undefined) out.set(0, upserted);
  } else if (r.upsertedId !== undefined && r.upsertedId !== null) out.set(0, r.upsertedId);
  return out;
}
