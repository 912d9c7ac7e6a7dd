// Dry-run: a write computed, never performed. The current documents are read (the database is
// only ever read), the operation is applied with mingo's query and update semantics, the
// result goes into the request's overlay, and the caller gets what the driver would have
// returned. Emulated server errors (duplicate key, immutable _id) are thrown as the driver's
// MongoServerError, as a live write would.
import { MongoServerError } from 'mongodb';
import { type Change, netChanges } from './changes';
import { applyUpdate, clone, type Doc, duplicateKey, idKey, sameDocument, shape, upsertDocument, withIdFirst } from './documents';
import type { WriteMethod, WriteOp } from './operations';
import type { View } from './overlay';

interface Outcome {
  matched: number;
  modified: number;
  deleted: number;
  upsertedId?: unknown;
  /** The first document touched, before and after (findOneAnd*). */
  before: Doc | null;
  after: Doc | null;
}

/** Which of a call's writes an emulated server error came from. */
export const failedWrite = new WeakMap<object, number>();

/** Runs the writes of one call; changes made before an error stay in `changes` (they happened). */
export async function emulate(method: WriteMethod, writes: WriteOp[], options: Doc, view: View, ns: string, changes: Change[], createPk?: () => unknown): Promise<unknown> {
  const session = options.session;
  const ordered = options.ordered !== false;
  const outcomes: Outcome[] = [];
  const errors: unknown[] = [];
  try {
    for (const [i, w] of writes.entries()) {
      try {
        outcomes.push(await applyWrite(w, view, ns, session, changes, method, createPk));
      } catch (err) {
        if (err && typeof err === 'object' && !failedWrite.has(err)) failedWrite.set(err, i);
        if (ordered || !(err instanceof MongoServerError)) throw err;
        errors.push(err);
        outcomes.push({ matched: 0, modified: 0, deleted: 0, before: null, after: null });
      }
    }
  } finally {
    // A bulk write reports the net change per document, whether it completed or not.
    if (method === 'bulkWrite') changes.splice(0, changes.length, ...netChanges(changes));
  }
  if (errors.length) throw errors[0];
  return resultOf(method, writes, outcomes, options);
}

async function applyWrite(w: WriteOp, view: View, ns: string, session: unknown, changes: Change[], method: WriteMethod, createPk: (() => unknown) | undefined): Promise<Outcome> {
  const none: Outcome = { matched: 0, modified: 0, deleted: 0, before: null, after: null };
  const find = { sort: 'sort' in w ? w.sort : undefined, session, hint: 'hint' in w ? w.hint : undefined, collation: 'collation' in w ? w.collation : undefined };
  switch (w.type) {
    case 'insert': {
      const doc = withIdFirst(clone(w.doc), w.doc._id);
      if (await view.exists(doc._id, session)) throw duplicateKey(ns, doc._id);
      view.put(doc._id, doc, true);
      changes.push({ id: doc._id, op: 'insert', before: null, after: clone(doc) });
      return { ...none, after: doc };
    }
    case 'update':
    case 'replace': {
      const docs = await view.find(w.filter, { ...find, limit: w.type === 'update' && w.multi ? 0 : 1 });
      const out: Outcome = { ...none };
      for (const doc of docs) {
        const after = w.type === 'update' ? applyUpdate(doc, w.update, { arrayFilters: w.arrayFilters, filter: w.filter, inserting: false }) : replaced(doc, w.replacement);
        if (idKey(after._id) !== idKey(doc._id)) throw new MongoServerError({ message: "Performing an update on the path '_id' would modify the immutable field '_id'", code: 66 });
        out.matched += 1;
        if (out.matched === 1) {
          out.before = doc;
          out.after = after;
        }
        if (sameDocument(doc, after)) continue;
        out.modified += 1;
        view.put(doc._id, after);
        changes.push({ id: doc._id, op: method === 'bulkWrite' ? 'update' : w.type, before: doc, after: clone(after) });
      }
      if (docs.length === 0 && w.upsert) {
        const doc = upsertDocument(w.filter, w.type === 'update' ? w.update : w.replacement, { arrayFilters: w.type === 'update' ? w.arrayFilters : undefined, replacement: w.type === 'replace', ...(createPk ? { createPk } : {}) });
        if (await view.exists(doc._id, session)) throw duplicateKey(ns, doc._id);
        view.put(doc._id, doc, true);
        changes.push({ id: doc._id, op: method === 'bulkWrite' ? 'update' : w.type, before: null, after: clone(doc) });
        out.upsertedId = doc._id;
        out.after = doc;
      }
      return out;
    }
    case 'delete': {
      const docs = await view.find(w.filter, { ...find, limit: w.multi ? 0 : 1 });
      for (const doc of docs) {
        view.put(doc._id, null);
        changes.push({ id: doc._id, op: 'delete', before: doc, after: null });
      }
      return { ...none, deleted: docs.length, before: docs[0] ?? null };
    }
  }
}

function replaced(doc: Doc, replacement: Doc): Doc {
  if (replacement && Object.keys(replacement).some((k) => k.startsWith('$'))) {
    throw new MongoServerError({ message: 'Replacement document must not contain atomic operators', code: 2 });
  }
  return withIdFirst(clone(replacement), replacement._id ?? doc._id);
}

function resultOf(method: WriteMethod, writes: WriteOp[], outcomes: Outcome[], options: Doc): unknown {
  const o = outcomes[0] ?? { matched: 0, modified: 0, deleted: 0, before: null, after: null };
  switch (method) {
    case 'insertOne':
      return { acknowledged: true, insertedId: (writes[0] as { doc: Doc }).doc._id };
    case 'insertMany': {
      const insertedIds: Record<number, unknown> = {};
      writes.forEach((w, i) => (insertedIds[i] = (w as { doc: Doc }).doc._id));
      return { acknowledged: true, insertedCount: writes.length, insertedIds };
    }
    case 'updateOne':
    case 'updateMany':
    case 'replaceOne':
      return { acknowledged: true, matchedCount: o.matched, modifiedCount: o.modified, upsertedCount: o.upsertedId === undefined ? 0 : 1, upsertedId: o.upsertedId ?? null };
    case 'deleteOne':
    case 'deleteMany':
      return { acknowledged: true, deletedCount: o.deleted };
    case 'findOneAndUpdate':
    case 'findOneAndReplace':
    case 'findOneAndDelete': {
      const upserted = o.upsertedId !== undefined;
      const picked = method === 'findOneAndDelete' ? o.before : options.returnDocument === 'after' ? o.after : upserted ? null : o.before;
      const projection = options.projection as Doc | undefined;
      const value = picked ? shape([clone(picked)], { projection })[0]! : null;
      if (!options.includeResultMetadata) return value;
      const n = method === 'findOneAndDelete' ? o.deleted : o.matched + (upserted ? 1 : 0);
      const lastErrorObject: Doc = { n };
      if (method !== 'findOneAndDelete') lastErrorObject.updatedExisting = o.matched > 0;
      if (upserted) lastErrorObject.upserted = o.upsertedId;
      return { lastErrorObject, value, ok: 1 };
    }
    case 'bulkWrite': {
      const insertedIds: Record<number, unknown> = {};
      const upsertedIds: Record<number, unknown> = {};
      let insertedCount = 0;
      let matchedCount = 0;
      let modifiedCount = 0;
      let deletedCount = 0;
      writes.forEach((w, i) => {
        const x = outcomes[i]!;
        if (w.type === 'insert') {
          insertedIds[i] = w.doc._id;
          insertedCount += 1;
        }
        matchedCount += x.matched;
        modifiedCount += x.modified;
        deletedCount += x.deleted;
        if (x.upsertedId !== undefined) upsertedIds[i] = x.upsertedId;
      });
      return { insertedCount, matchedCount, modifiedCount, deletedCount, upsertedCount: Object.keys(upsertedIds).length, insertedIds, upsertedIds };
    }
  }
}
