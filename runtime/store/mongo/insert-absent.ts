// Insert-if-absent, the store's one write primitive for what must be stored once: a
// deterministic `_id` and a unique index do on any server what conditional updates cannot do
// atomically on some (FerretDB 1.x).
import type { Collection, Filter, MongoBulkWriteError, OptionalUnlessRequiredId } from 'mongodb';

export const DUPLICATE_KEY = 11000;

/**
 * Inserts the documents whose `_id` is not stored yet; returns those this call stored for
 * certain. A server may stop at the first duplicate even unordered, so after a refusal it looks
 * up what is there and inserts the rest.
 */
export async function insertAbsent<T extends { _id: string }>(collection: Collection<T>, docs: readonly T[]): Promise<Set<string>> {
  const ours = new Set<string>();
  let todo = docs;
  for (let attempt = 1; todo.length; attempt++) {
    try {
      await collection.insertMany(todo as OptionalUnlessRequiredId<T>[], { ordered: false });
      for (const d of todo) ours.add(d._id);
      break;
    } catch (err) {
      if (!onlyDuplicates(err) || attempt >= 10) throw err;
      // A server that went on past the refusals stored every other document; one that stopped
      // at the first stored those before it.
      // Without the indexes of the refusals, claim none: an entry not claimed is only rechecked.
      const refused = new Set(writeErrors(err).map((e) => e.index));
      const insertedCount = (err as MongoBulkWriteError).insertedCount ?? 0;
      const wentOn = insertedCount === todo.length - refused.size;
      const first = refused.size ? Math.min(...refused) : -1;
      todo.forEach((d, i) => {
        if (!refused.has(i) && (wentOn || i < first)) ours.add(d._id);
      });
      const ids = todo.map((d) => d._id);
      const present = new Set((await collection.find({ _id: { $in: ids } } as Filter<T>, { projection: { _id: 1 } }).toArray()).map((d) => d._id as string));
      todo = todo.filter((d) => !present.has(d._id));
    }
  }
  return ours;
}

function writeErrors(err: unknown): { code?: number; index: number }[] {
  const w = (err as MongoBulkWriteError).writeErrors as unknown;
  return (Array.isArray(w) ? w : w ? [w] : []) as { code?: number; index: number }[];
}

function onlyDuplicates(err: unknown): boolean {
  if ((err as { name?: string }).name === 'MongoBulkWriteError') {
    const errors = writeErrors(err);
    return errors.length > 0 && errors.every((e) => e.code === DUPLICATE_KEY);
  }
  return (err as { code?: number }).code === DUPLICATE_KEY;
}
