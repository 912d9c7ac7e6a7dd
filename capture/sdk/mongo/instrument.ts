// shadow.mongo(clientOrDbOrCollection): a Proxy around the driver object the app already has.
// Outside a shadow context every call goes straight to the driver. Inside one, writes are
// recorded (live) or emulated (dry-run), and a dry-run request's reads see its own would-be
// writes. Only the public methods are intercepted; nothing is patched.
import type { Collection, Db, MongoClient } from 'mongodb';
import { ShadowdiffError } from '../../../core/errors';
import { currentContext, type ShadowContext } from '../context';
import { toEffectValue } from '../../../core/effect-value';
import type { ImageMode } from '../options';
import { errorText, type Shadow } from '../shadow';
import { type Change, changeEffects, netChanges, opEffect } from './changes';
import { aggregate, type Doc, shape, Unsupported } from './documents';
import { emulate, failedWrite } from './dry-run';
import { readAfter, readBefore, upsertedIds, withoutFailedInserts } from './live';
import { optionsOf, pkFactoryOf, WRITE_METHODS, type WriteMethod, type WriteOp, writesOf } from './operations';
import { Overlay } from './overlay';
import { overlayCursor } from './reads';
import { noteReads, type PendingUpsert } from '../prestate';

export function instrumentMongo<T extends object>(shadow: Shadow, target: T): T {
  const t = target as Record<string, unknown>;
  if (typeof t.collectionName === 'string' && typeof t.insertOne === 'function') return wrapCollection(shadow, target as unknown as Collection) as unknown as T;
  if (typeof t.databaseName === 'string' && typeof t.collection === 'function') return wrapDb(shadow, target as unknown as Db) as unknown as T;
  if (typeof t.db === 'function' && typeof t.connect === 'function') return wrapClient(shadow, target as unknown as MongoClient) as unknown as T;
  throw new ShadowdiffError('SHADOWDIFF_CONFIG', 'shadow.mongo() takes a MongoClient, Db or Collection of the official mongodb driver.');
}

/** Per SDK instance: the same driver object always gets the same wrapper. */
const wrappers = new WeakMap<Shadow, WeakMap<object, object>>();

function wrapClient(shadow: Shadow, client: MongoClient): MongoClient {
  return cached(shadow, client, () =>
    forward(client, (prop) => (prop === 'db' ? (...args: unknown[]) => wrapDb(shadow, (client.db as (...a: unknown[]) => Db)(...args)) : undefined)),
  );
}

function wrapDb(shadow: Shadow, db: Db): Db {
  return cached(shadow, db, () =>
    forward(db, (prop) => {
      if (prop === 'collection') return (...args: unknown[]) => wrapCollection(shadow, (db.collection as (...a: unknown[]) => Collection)(...args));
      if (typeof prop === 'string' && DB_SCHEMA_METHODS.has(prop) && shadow.mode === 'dry-run') {
        return async (...args: unknown[]) => {
          shadow.schemaWriteSkipped(prop, typeof args[0] === 'string' && prop !== 'dropDatabase' ? `${db.databaseName}.${args[0]}` : db.databaseName);
          return prop === 'createCollection' ? wrapCollection(shadow, db.collection(String(args[0]))) : prop === 'createIndex' ? indexName(args[1], args[2]) : true;
        };
      }
      if (prop === 'createCollection') return async (...args: unknown[]) => wrapCollection(shadow, await (db.createCollection as (...a: unknown[]) => Promise<Collection>)(...args));
      return undefined;
    }),
  );
}

function wrapCollection(shadow: Shadow, collection: Collection): Collection {
  return cached(shadow, collection, () =>
    forward(collection, (prop) => {
      if (typeof prop !== 'string') return undefined;
      const original = (collection as unknown as Record<string, unknown>)[prop];
      if (typeof original !== 'function') return undefined;
      const call = (args: unknown[]) => (original as (...a: unknown[]) => unknown).apply(collection, args);
      if (WRITE_METHODS.has(prop)) {
        return (...args: unknown[]) => {
          shadow.driverCalled();
          const ctx = currentContext();
          if (!ctx) {
            if (shadow.mode === 'dry-run') shadow.writeOutsideRequest(`${collection.dbName}.${collection.collectionName}`, prop);
            return call(args);
          }
          return write(shadow, ctx, collection, prop as WriteMethod, args, call);
        };
      }
      if (READ_METHODS.has(prop)) {
        return (...args: unknown[]) => {
          shadow.driverCalled();
          const ctx = currentContext();
          if (!ctx || ctx.mode !== 'dry-run') return call(args);
          return read(shadow, ctx, collection, prop, args, call);
        };
      }
      if (COLLECTION_SCHEMA_METHODS.has(prop) && shadow.mode === 'dry-run') {
        // A dry-run service shares the live side's database: its indexes and collections are
        // legacy's to make (Mongoose's autoIndex and autoCreate run these at startup).
        return async (...args: unknown[]) => {
          shadow.schemaWriteSkipped(prop, `${collection.dbName}.${collection.collectionName}`);
          return schemaResult(shadow, collection, prop, args);
        };
      }
      return undefined;
    }),
  );
}

/** Schema changes a dry-run service must not make: skipped, logged once each, counted. */
const DB_SCHEMA_METHODS = new Set(['createCollection', 'createIndex', 'dropCollection', 'dropDatabase', 'renameCollection']);
const COLLECTION_SCHEMA_METHODS = new Set(['createIndex', 'createIndexes', 'dropIndex', 'dropIndexes', 'drop', 'rename', 'createSearchIndex', 'createSearchIndexes', 'dropSearchIndex', 'updateSearchIndex']);

/** What the driver would have answered, had the schema change been made. */
function schemaResult(shadow: Shadow, collection: Collection, method: string, args: unknown[]): unknown {
  switch (method) {
    case 'createIndex':
      return indexName(args[0], args[1]);
    case 'createIndexes':
      return ((args[0] ?? []) as { key?: unknown; name?: string }[]).map((spec) => spec.name ?? indexName(spec.key, {}));
    case 'createSearchIndex':
      return (args[0] as { name?: string } | undefined)?.name ?? 'default';
    case 'createSearchIndexes':
      return ((args[0] ?? []) as { name?: string }[]).map((spec) => spec.name ?? 'default');
    case 'rename':
      return wrapCollection(shadow, collection); // not renamed: the collection as it still is
    case 'drop':
      return true;
    case 'dropIndex':
    case 'dropIndexes':
      return { ok: 1 };
    default:
      return undefined;
  }
}

/** The name the server gives an index: its fields and directions joined, unless named. */
function indexName(spec: unknown, options: unknown): string {
  const named = (options as { name?: unknown } | undefined)?.name;
  if (typeof named === 'string') return named;
  const pairs: [string, unknown][] =
    typeof spec === 'string'
      ? [[spec, 1]]
      : Array.isArray(spec)
        ? spec.map((e) => (Array.isArray(e) ? (e as [string, unknown]) : [String(e), 1]))
        : spec instanceof Map
          ? [...(spec as Map<string, unknown>).entries()]
          : Object.entries((spec ?? {}) as Record<string, unknown>);
  return pairs.map(([k, v]) => `${k}_${String(v)}`).join('_');
}

/** A Proxy that serves `override(prop)` where it returns something, and the target's own member otherwise (methods bound to the target). */
function forward<T extends object>(target: T, override: (prop: string | symbol) => unknown): T {
  return new Proxy(target, {
    get(t, prop) {
      const o = override(prop);
      if (o !== undefined) return o;
      const v = Reflect.get(t, prop, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

function cached<T extends object>(shadow: Shadow, target: T, make: () => T): T {
  let wrapped = wrappers.get(shadow);
  if (!wrapped) wrappers.set(shadow, (wrapped = new WeakMap()));
  let w = wrapped.get(target) as T | undefined;
  if (!w) {
    w = make();
    wrapped.set(target, w);
    shadow.mongoInstrumented();
  }
  return w;
}

function imagesFor(shadow: Shadow, collection: Collection): ImageMode {
  const m = shadow.options.mongo;
  return m.collections[`${collection.dbName}.${collection.collectionName}`] ?? m.collections[collection.collectionName] ?? m.images;
}

async function write(shadow: Shadow, ctx: ShadowContext, collection: Collection, method: WriteMethod, args: unknown[], call: (args: unknown[]) => unknown): Promise<unknown> {
  const ns = `${collection.dbName}.${collection.collectionName}`;
  let writes: WriteOp[] | undefined;
  let options: Doc = {};
  let images: ImageMode = 'full';
  try {
    options = optionsOf(method, args);
    writes = writesOf(method, args, options, pkFactoryOf(collection));
    images = imagesFor(shadow, collection);
  } catch (err) {
    shadow.internalError('mongo-args', err);
  }
  if (ctx.mode === 'live') return liveWrite(shadow, ctx, collection, ns, method, args, call, writes, options, images);
  if (!writes) {
    // Arguments the SDK cannot read would make the driver throw too; a dry-run must not write.
    shadow.emulationFailed(`${ns} ${method}`, 'unreadable arguments');
    return Promise.reject(new TypeError(`shadowdiff dry-run: cannot read the arguments of ${method}`));
  }
  return dryRunWrite(shadow, ctx, collection, ns, method, writes, options, images);
}

async function liveWrite(
  shadow: Shadow,
  ctx: ShadowContext,
  collection: Collection,
  ns: string,
  method: WriteMethod,
  args: unknown[],
  call: (args: unknown[]) => unknown,
  writes: WriteOp[] | undefined,
  options: Doc,
  images: ImageMode,
): Promise<unknown> {
  const insertOnly = writes?.every((w) => w.type === 'insert') ?? false;
  const prestate = shadow.prestate;
  let before: Awaited<ReturnType<typeof readBefore>> | undefined;
  // The handoff needs the before-images whatever the image mode: they are what the dry-run rewinds to.
  if (writes && (images !== 'none' || prestate) && !insertOnly) {
    try {
      before = await readBefore(collection, writes, options);
    } catch (err) {
      shadow.internalError('mongo-before', err); // the write still happens; only its images are lost
    }
  }
  let pending: PendingUpsert[] = [];
  if (prestate) {
    if (writes) pending = await prestate.beforeWrite(ctx, ns, writes, before);
    else prestate.unknown(ctx, `could not read the arguments of ${method} on ${ns}`);
  }
  // findOneAnd* report an upsert only with the result metadata: ask for it, hand back what the app asked for.
  const wantsMeta = method.startsWith('findOneAnd') && !options.includeResultMetadata && writes !== undefined;
  const callArgs = wantsMeta ? withOption(method, args, { includeResultMetadata: true }) : args;
  let result: unknown;
  try {
    result = await call(callArgs);
  } catch (err) {
    prestate?.afterWrite(ctx, pending, upsertedIds(method, (err as { result?: unknown }).result));
    if (writes) {
      // A bulk write stopped by an error still made the writes before it: record those first.
      if (before && (err as { writeErrors?: unknown }).writeErrors) {
        try {
          const made = withoutFailedInserts(before, err, options.ordered !== false);
          const changes = await readAfter(collection, method, made, upsertedIds(method, (err as { result?: unknown }).result), options);
          for (const f of changeEffects(ns, netChanges(changes), images)) shadow.record(ctx, shadow.nextSeq(ctx), f);
        } catch (e) {
          shadow.internalError('mongo-after', e);
        }
      }
      recordFailure(shadow, ctx, ns, writes, options, images, err);
    }
    throw err;
  }
  prestate?.afterWrite(ctx, pending, upsertedIds(method, result));
  if (writes) {
    try {
      let changes: Change[];
      if (images === 'none') changes = [];
      else if (insertOnly) changes = writes.map((w) => ({ id: (w as { doc: Doc }).doc._id, op: 'insert', before: null, after: (w as { doc: Doc }).doc }));
      else changes = before ? await readAfter(collection, method, before, upsertedIds(method, result), options) : [];
      if (images === 'none') recordOps(shadow, ctx, ns, method, writes, result);
      else for (const f of changeEffects(ns, method === 'bulkWrite' ? netChanges(changes) : changes, images)) shadow.record(ctx, shadow.nextSeq(ctx), f);
    } catch (err) {
      shadow.internalError('mongo-after', err);
    }
  }
  return wantsMeta ? ((result as { value?: unknown } | null)?.value ?? null) : result;
}

/**
 * The database applies each write atomically; an emulated one reads the view and then writes the
 * overlay, with awaits between. A request's emulated writes therefore run one at a time, in the
 * order they were issued (handlers that `Promise.all` two `$inc`s on one document get both).
 */
function dryRunWrite(shadow: Shadow, ctx: ShadowContext, collection: Collection, ns: string, method: WriteMethod, writes: WriteOp[], options: Doc, images: ImageMode): Promise<unknown> {
  const run = (ctx.writes ?? Promise.resolve()).then(() => emulateWrite(shadow, ctx, collection, ns, method, writes, options, images));
  ctx.writes = run.catch(() => undefined);
  return run;
}

async function emulateWrite(shadow: Shadow, ctx: ShadowContext, collection: Collection, ns: string, method: WriteMethod, writes: WriteOp[], options: Doc, images: ImageMode): Promise<unknown> {
  const overlay = (ctx.overlay ??= new Overlay());
  const changes: Change[] = [];
  let result: unknown;
  try {
    const rewind = shadow.prestate?.rewind(ctx);
    const seen = rewind ? undefined : (docs: unknown[]) => noteReads(ctx, ns, docs, shadow.redactor);
    result = await emulate(method, writes, options, overlay.view(ns, collection, rewind, seen), ns, changes, pkFactoryOf(collection));
  } catch (err) {
    recordChanges(shadow, ctx, ns, method, writes, changes, images, undefined);
    if (err instanceof Unsupported || !(err as { code?: unknown }).code) {
      // Not a server error the live write would have raised: ours. Record it, never throw it.
      shadow.emulationFailed(`${ns} ${method}`, err);
      shadow.record(ctx, shadow.nextSeq(ctx), { ...failedFields(ns, writes[0]!), error: `dry-run could not emulate ${method}: ${errorText(err)}` });
      return emptyResult(method);
    }
    shadow.record(ctx, shadow.nextSeq(ctx), { ...failedFields(ns, writes[failedWrite.get(err as object) ?? 0] ?? writes[0]!), error: errorText(err) });
    throw err;
  }
  recordChanges(shadow, ctx, ns, method, writes, changes, images, result);
  return result;
}

function recordChanges(shadow: Shadow, ctx: ShadowContext, ns: string, method: WriteMethod, writes: WriteOp[], changes: Change[], images: ImageMode, result: unknown): void {
  try {
    if (images === 'none') {
      if (result !== undefined) recordOps(shadow, ctx, ns, method, writes, result);
      else for (const c of changes) if (c.op === 'insert') shadow.record(ctx, shadow.nextSeq(ctx), changeEffects(ns, [c], 'none')[0]!);
    } else for (const f of changeEffects(ns, changes, images)) shadow.record(ctx, shadow.nextSeq(ctx), f);
  } catch (err) {
    shadow.internalError('mongo-record', err);
  }
}

/** Image mode `none`: inserts by document, other writes by operation when the result says they changed something. */
function recordOps(shadow: Shadow, ctx: ShadowContext, ns: string, method: WriteMethod, writes: WriteOp[], result: unknown): void {
  const r = (result ?? {}) as Doc;
  const meta = r.lastErrorObject as Doc | undefined;
  const changed =
    method === 'bulkWrite'
      ? true
      : method.startsWith('findOneAnd')
        ? Number(meta?.n ?? (r.value !== undefined ? (r.value ? 1 : 0) : result ? 1 : 0)) > 0
        : Number(r.modifiedCount ?? 0) + Number(r.upsertedCount ?? 0) + Number(r.deletedCount ?? 0) > 0;
  for (const w of writes) {
    if (w.type === 'insert') {
      shadow.record(ctx, shadow.nextSeq(ctx), changeEffects(ns, [{ id: w.doc._id, op: 'insert', before: null, after: w.doc }], 'none')[0]!);
    } else if (changed) {
      const spec = w.type === 'update' ? { update: w.update, upsert: w.upsert } : w.type === 'replace' ? { replacement: w.replacement, upsert: w.upsert } : {};
      shadow.record(ctx, shadow.nextSeq(ctx), opEffect(ns, w.type, w.filter, spec));
    }
  }
}

/** A write the server refused: the effect is recorded as failed; inserts an insertMany made before it did happen. */
function recordFailure(shadow: Shadow, ctx: ShadowContext, ns: string, writes: WriteOp[], options: Doc, images: ImageMode, err: unknown): void {
  try {
    const indexes = ((err as { writeErrors?: { index: number }[] }).writeErrors ?? []).map((w) => w.index);
    if (writes.length > 1 && indexes.length && writes.every((w) => w.type === 'insert')) {
      const failed = new Set(indexes);
      const first = Math.min(...indexes);
      const ordered = options.ordered !== false;
      const done = (writes as { doc: Doc }[]).filter((_, i) => !failed.has(i) && (!ordered || i < first));
      for (const f of changeEffects(ns, done.map((w) => ({ id: w.doc._id, op: 'insert' as const, before: null, after: w.doc })), images)) shadow.record(ctx, shadow.nextSeq(ctx), f);
    }
    const index = indexes[0] ?? failedWrite.get(err as object) ?? 0;
    shadow.record(ctx, shadow.nextSeq(ctx), { ...failedFields(ns, writes[index] ?? writes[0]!), error: errorText(err) });
  } catch (e) {
    shadow.internalError('mongo-failure', e);
  }
}

function failedFields(ns: string, w: WriteOp) {
  const key = w.type === 'insert' ? { _id: w.doc._id } : w.filter;
  return { kind: 'db' as const, target: ns, op: w.type, key: toEffectValue(key), status: 'failed' as const };
}

function emptyResult(method: WriteMethod): unknown {
  if (method === 'insertOne' || method === 'insertMany' || method.startsWith('findOneAnd')) return method === 'insertOne' ? { acknowledged: true, insertedId: null } : method === 'insertMany' ? { acknowledged: true, insertedCount: 0, insertedIds: {} } : null;
  if (method === 'deleteOne' || method === 'deleteMany') return { acknowledged: true, deletedCount: 0 };
  if (method === 'bulkWrite') return { insertedCount: 0, matchedCount: 0, modifiedCount: 0, deletedCount: 0, upsertedCount: 0, insertedIds: {}, upsertedIds: {} };
  return { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0, upsertedId: null };
}

function withOption(method: WriteMethod, args: unknown[], extra: Doc): unknown[] {
  const i = method === 'findOneAndDelete' ? 1 : 2;
  const out = [...args];
  while (out.length < i) out.push(undefined);
  out[i] = { ...((args[i] as Doc | undefined) ?? {}), ...extra };
  return out;
}

const READ_METHODS = new Set(['find', 'findOne', 'countDocuments', 'aggregate', 'distinct']);

/**
 * Dry-run reads. Without a handoff: straight to the driver until the request has written to
 * this collection. With one: always through the view, which rewinds the live side's writes.
 */
function read(shadow: Shadow, ctx: ShadowContext, collection: Collection, method: string, args: unknown[], call: (args: unknown[]) => unknown): unknown {
  const ns = `${collection.dbName}.${collection.collectionName}`;
  try {
    const rewind = shadow.prestate?.rewind(ctx);
    // Without a handoff, what was read is fingerprinted: the comparator can then tell a read of the live side's write.
    const seen = rewind ? undefined : (docs: unknown[]) => noteReads(ctx, ns, docs, shadow.redactor);
    const view = () => (ctx.overlay ??= new Overlay()).view(ns, collection, rewind, seen);
    const direct = () => !rewind && (!ctx.overlay || ctx.overlay.isEmpty(ns));
    switch (method) {
      case 'find':
        return overlayCursor(call(args) as object, () => (direct() ? undefined : view()), (args[0] as Doc) ?? {}, (args[1] as Doc) ?? {}, { seen });
      case 'findOne': {
        const opts = (args[1] as Doc) ?? {};
        if (direct()) {
          const r = call(args);
          return seen && !opts.projection && r instanceof Promise ? r.then((d: unknown) => (seen([d]), d)) : r;
        }
        return view()
          .find((args[0] as Doc) ?? {}, { ...opts, limit: 1 })
          .then((docs) => (docs.length ? shape(docs, { projection: opts.projection as Doc })[0] : null));
      }
      case 'countDocuments': {
        if (direct()) return call(args);
        const opts = (args[1] as Doc) ?? {};
        if (opts.limit || opts.skip) return view().find((args[0] as Doc) ?? {}, opts).then((d) => d.length);
        return view().count((args[0] as Doc) ?? {}, opts.session);
      }
      case 'distinct': {
        if (direct()) return call(args);
        const key = String(args[0]);
        return view()
          .find((args[1] as Doc) ?? {}, (args[2] as Doc) ?? {})
          .then((docs) => distinctValues(docs, key));
      }
      case 'aggregate': {
        const pipeline = (args[0] as Doc[]) ?? [];
        const match = pipeline[0]?.$match as Doc | undefined;
        const joins = pipeline.some((s) => s && typeof s === 'object' && ('$lookup' in s || '$graphLookup' in s || '$unionWith' in s));
        if (rewind && (!match || joins)) {
          // Not rewindable (only a leading $match is evaluated on rewound documents, and a join
          // reads other collections): the database answers, and the request's pre-state is
          // unknown when the live side had written what the aggregate read.
          const check = async () => {
            await rewind.refresh(undefined, new Map());
            if (joins ? rewind.anyImages : rewind.known(ns).size > 0) rewind.unknown(`an aggregate ${joins ? 'joining other collections' : 'without a leading $match'} read ${ns} after the live side wrote it`);
          };
          return overlayCursor(call(args) as object, () => undefined, {}, {}, { afterRead: check });
        }
        if (!match || direct()) return call(args);
        return overlayCursor(call(args) as object, () => view(), match, {}, { post: (docs) => aggregate(docs, pipeline.slice(1)) });
      }
    }
  } catch (err) {
    shadow.internalError('mongo-read', err);
  }
  return call(args);
}

function distinctValues(docs: Doc[], key: string): unknown[] {
  const seen = new Map<string, unknown>();
  for (const d of docs) {
    let v: unknown = d;
    for (const part of key.split('.')) v = v && typeof v === 'object' ? (v as Doc)[part] : undefined;
    for (const x of Array.isArray(v) ? v : [v]) if (x !== undefined) seen.set(JSON.stringify(toEffectValue(x)), x);
  }
  return [...seen.values()];
}
