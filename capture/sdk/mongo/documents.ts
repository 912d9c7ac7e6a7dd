// Document helpers shared by live recording and dry-run emulation: identity, copying, equality
// and the MongoDB semantics that mingo provides (queries, update operators, pipelines).
import { Aggregator, Query, update as applyModifier, updateOne as applyPipeline } from 'mingo';
import { MongoServerError, ObjectId } from 'mongodb';
import { toEffectValue } from '../../../core/effect-value';

export type Doc = Record<string, unknown>;

/** A stable string for an _id of any type (ObjectId, string, number, compound). */
export function idKey(id: unknown): string {
  return JSON.stringify(toEffectValue(id));
}

/** Same content, field order included (MongoDB counts a reordered document as modified). */
export function sameDocument(a: unknown, b: unknown): boolean {
  return JSON.stringify(toEffectValue(a)) === JSON.stringify(toEffectValue(b));
}

/**
 * A plain `{…}` object, from any realm (a vm context or structuredClone makes objects whose
 * prototype is another realm's Object.prototype); not a Date, a BSON value or a class instance.
 */
export function isPlainObject(value: unknown): value is Doc {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || (Object.getPrototypeOf(proto) === null && Object.prototype.toString.call(value) === '[object Object]' && !('_bsontype' in value));
}

/** A deep copy that keeps BSON values (ObjectId, Decimal128, …) as they are: they are immutable. */
export function clone<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(clone) as T;
  if (value instanceof Date || Object.prototype.toString.call(value) === '[object Date]') return new Date((value as unknown as Date).getTime()) as T;
  if (!isPlainObject(value)) return value;
  const out: Doc = {};
  for (const key of Object.keys(value)) out[key] = clone((value as Doc)[key]);
  return out as T;
}


export function matches(filter: Doc, doc: Doc): boolean {
  if (Object.keys(filter).length === 0) return true;
  return new Query(filter).test(doc);
}

/** The documents in order of a MongoDB sort spec, then skip and limit (0: none), then projection. */
export function shape(docs: Doc[], options: { sort?: unknown; skip?: number; limit?: number; projection?: Doc }): Doc[] {
  const pipeline: Doc[] = [];
  const sort = normalizeSort(options.sort);
  if (sort) pipeline.push({ $sort: sort });
  if (options.skip) pipeline.push({ $skip: options.skip });
  if (options.limit) pipeline.push({ $limit: Math.abs(options.limit) });
  if (options.projection && Object.keys(options.projection).length) pipeline.push({ $project: options.projection });
  return pipeline.length ? (new Aggregator(pipeline).run(docs) as Doc[]) : docs;
}

export function aggregate(docs: Doc[], pipeline: Doc[]): Doc[] {
  return new Aggregator(pipeline).run(docs) as Doc[];
}

/** The driver accepts sort as {a: 1}, [['a', 1]], 'a' or [['a', 'desc']]: mingo wants {a: 1}. */
export function normalizeSort(sort: unknown): Record<string, 1 | -1> | undefined {
  if (sort === undefined || sort === null) return undefined;
  const dir = (v: unknown): 1 | -1 => (v === -1 || v === 'desc' || v === 'descending' ? -1 : 1);
  const out: Record<string, 1 | -1> = {};
  if (typeof sort === 'string') out[sort] = 1;
  else if (Array.isArray(sort)) {
    if (sort.length === 2 && typeof sort[0] === 'string' && !Array.isArray(sort[1])) out[sort[0]] = dir(sort[1]);
    else for (const s of sort) Array.isArray(s) ? (out[String(s[0])] = dir(s[1])) : (out[String(s)] = 1);
  } else if (sort instanceof Map) for (const [k, v] of sort) out[String(k)] = dir(v);
  else for (const [k, v] of Object.entries(sort as Doc)) out[k] = dir(v);
  return Object.keys(out).length ? out : undefined;
}

export class Unsupported extends Error {}

/** Applies an update (operators or a pipeline) to a copy of the document; `inserting` applies $setOnInsert. */
export function applyUpdate(doc: Doc, update: unknown, options: { arrayFilters?: Doc[]; filter: Doc; inserting: boolean }): Doc {
  const out = clone(doc);
  if (Array.isArray(update)) {
    const box = [out];
    applyPipeline(box, {}, update as never);
    return doc._id === undefined ? (box[0] as Doc) : withIdFirst(box[0] as Doc, doc._id);
  }
  if (!update || typeof update !== 'object') throw new MongoServerError({ message: 'Update document requires atomic operators', code: 9 });
  const spec: Doc = {};
  for (const [op, fields] of Object.entries(update as Doc)) {
    if (!op.startsWith('$')) throw new MongoServerError({ message: 'Update document requires atomic operators', code: 9 });
    if (op === '$setOnInsert') {
      if (options.inserting) spec.$set = { ...((spec.$set as Doc) ?? {}), ...(fields as Doc) };
      continue;
    }
    if (op === '$inc' || op === '$mul') refuseBsonArithmetic(out, op, fields as Doc);
    if (op in ARRAY_OPS) refuseNonArray(out, op, fields as Doc);
    if (op === '$addToSet') {
      const rest = addToSet(out, fields as Doc, spec);
      if (!Object.keys(rest).length) continue;
      spec[op] = rest;
      continue;
    }
    spec[op] = op === '$set' && spec.$set ? { ...(spec.$set as Doc), ...(fields as Doc) } : fields;
  }
  if (Object.keys(spec).length) {
    try {
      // The filter is mingo's condition for the positional `$`; an upsert's new document need not match it.
      applyModifier(out, spec as never, options.arrayFilters, options.inserting ? undefined : (options.filter as never));
    } catch (err) {
      const message = (err as Error).message;
      if (/immutable field '_id'/.test(message)) throw new MongoServerError({ message, code: 66 });
      throw new Unsupported(`update ${JSON.stringify(Object.keys(spec))}: ${message}`);
    }
  }
  return out;
}

/**
 * $addToSet on plain paths, done here: mingo 7 de-duplicates the existing array too, so it
 * neither keeps duplicates already stored nor adds to an array that holds any (MongoDB does
 * both). Paths with positional operators are left to mingo; what is left is returned.
 */
function addToSet(doc: Doc, fields: Doc, spec: Doc): Doc {
  const rest: Doc = {};
  for (const [path, arg] of Object.entries(fields)) {
    if (path.includes('$')) {
      rest[path] = arg;
      continue;
    }
    const each = isPlainObject(arg) && '$each' in arg ? (arg.$each as unknown[]) : [arg];
    let v: unknown = doc;
    for (const part of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Doc)[part] : undefined;
    if (v !== undefined && !Array.isArray(v)) throw new MongoServerError({ message: `Cannot apply $addToSet to non-array field. Field named '${path}' has non-array type`, code: 2 });
    const current = (v as unknown[] | undefined) ?? [];
    const seen = new Set(current.map((x) => JSON.stringify(toEffectValue(x))));
    const added: unknown[] = [];
    for (const x of each) {
      const k = JSON.stringify(toEffectValue(x));
      if (!seen.has(k)) {
        seen.add(k);
        added.push(clone(x));
      }
    }
    if (added.length || v === undefined) spec.$set = { ...((spec.$set as Doc) ?? {}), [path]: [...current, ...added] };
  }
  return rest;
}

// MongoDB refuses array operators on a value that is not an array; mingo would carry on.
const ARRAY_OPS: Record<string, number> = { $push: 2, $pop: 14, $pull: 2, $pullAll: 2 };

function refuseNonArray(doc: Doc, op: string, fields: Doc): void {
  for (const path of Object.keys(fields)) {
    if (path.includes('$')) continue;
    let v: unknown = doc;
    for (const part of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Doc)[part] : undefined;
    if (v !== undefined && !Array.isArray(v)) throw new MongoServerError({ message: `Cannot apply ${op} to a non-array value ('${path}')`, code: ARRAY_OPS[op] });
  }
}

// mingo's arithmetic knows JS numbers only: on a Long or Decimal128 it would silently do nothing.
function refuseBsonArithmetic(doc: Doc, op: string, fields: Doc): void {
  for (const path of Object.keys(fields)) {
    let v: unknown = doc;
    for (const part of path.split('.')) v = v && typeof v === 'object' ? (v as Doc)[part] : undefined;
    const type = v && typeof v === 'object' ? (v as { _bsontype?: string })._bsontype : undefined;
    if (type === 'Long' || type === 'Decimal128' || type === 'Int32' || type === 'Double') throw new Unsupported(`${op} on a ${type} field ("${path}")`);
  }
}

/**
 * The document an upsert inserts: the filter's equality conditions, then the update. A new `_id`
 * comes from `createPk`: the app's own driver's (an ObjectId of the bson it serializes).
 */
export function upsertDocument(filter: Doc, update: unknown, options: { arrayFilters?: Doc[]; replacement: boolean; createPk?: () => unknown }): Doc {
  const createPk = options.createPk ?? (() => new ObjectId());
  if (options.replacement) {
    const seed = equalities(filter);
    const repl = update as Doc;
    return withIdFirst({ ...repl }, repl._id ?? seed._id ?? createPk());
  }
  const seed = equalities(filter);
  const out = applyUpdate(seed, update, { arrayFilters: options.arrayFilters, filter, inserting: true });
  return withIdFirst(out, out._id ?? createPk());
}

function equalities(filter: Doc): Doc {
  const out: Doc = {};
  const visit = (f: Doc) => {
    for (const [key, value] of Object.entries(f)) {
      if (key === '$and' && Array.isArray(value)) value.forEach((v) => visit(v as Doc));
      if (key.startsWith('$')) continue;
      const isOps = isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$'));
      if (!isOps) setPath(out, key, clone(value));
      else if ('$eq' in (value as Doc)) setPath(out, key, clone((value as Doc).$eq));
    }
  };
  visit(filter);
  return out;
}

function setPath(doc: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  let at = doc;
  for (const part of parts.slice(0, -1)) {
    if (!at[part] || typeof at[part] !== 'object') at[part] = {};
    at = at[part] as Doc;
  }
  at[parts[parts.length - 1]!] = value;
}

/** MongoDB stores `_id` as the first field of every document it inserts. */
export function withIdFirst(doc: Doc, id: unknown): Doc {
  const { _id: _ignored, ...rest } = doc;
  return { _id: id, ...rest };
}

export function duplicateKey(ns: string, id: unknown): MongoServerError {
  return new MongoServerError({
    message: `E11000 duplicate key error collection: ${ns} index: _id_ dup key: { _id: ${JSON.stringify(toEffectValue(id))} }`,
    code: 11000,
    keyPattern: { _id: 1 },
    keyValue: { _id: id },
  });
}
