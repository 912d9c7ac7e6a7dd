// The driver's write methods as data: each call becomes a list of single writes (a bulkWrite
// is several), which live recording and dry-run emulation both work from.
import { ObjectId } from 'mongodb';
import type { Doc } from './documents';

export type WriteOp =
  | { type: 'insert'; doc: Doc }
  | { type: 'update'; filter: Doc; update: unknown; multi: boolean; upsert: boolean; arrayFilters?: Doc[]; sort?: unknown; hint?: unknown; collation?: unknown }
  | { type: 'replace'; filter: Doc; replacement: Doc; upsert: boolean; sort?: unknown; hint?: unknown; collation?: unknown }
  | { type: 'delete'; filter: Doc; multi: boolean; sort?: unknown; hint?: unknown; collation?: unknown };

export const WRITE_METHODS = new Set([
  'insertOne',
  'insertMany',
  'updateOne',
  'updateMany',
  'replaceOne',
  'deleteOne',
  'deleteMany',
  'findOneAndUpdate',
  'findOneAndReplace',
  'findOneAndDelete',
  'bulkWrite',
]);

export type WriteMethod =
  | 'insertOne'
  | 'insertMany'
  | 'updateOne'
  | 'updateMany'
  | 'replaceOne'
  | 'deleteOne'
  | 'deleteMany'
  | 'findOneAndUpdate'
  | 'findOneAndReplace'
  | 'findOneAndDelete'
  | 'bulkWrite';

/**
 * The collection's primary key factory: the driver's default makes an ObjectId of the bson its
 * own copy serializes (an app on another major version than the SDK's has another bson), and an
 * app may have set its own (`pkFactory`). Internal to the driver (`s`), the same from 4.x to 7.x.
 */
export function pkFactoryOf(collection: object): () => unknown {
  const factory = (collection as { s?: { pkFactory?: { createPk?: () => unknown } } }).s?.pkFactory;
  return typeof factory?.createPk === 'function' ? () => factory.createPk!() : () => new ObjectId();
}

/** The options argument of a call (the driver's last parameter). */
export function optionsOf(method: WriteMethod, args: unknown[]): Doc {
  const i = method === 'insertOne' || method === 'insertMany' || method === 'bulkWrite' || method === 'deleteOne' || method === 'deleteMany' || method === 'findOneAndDelete' ? 1 : 2;
  return (args[i] as Doc | undefined) ?? {};
}

/**
 * The writes a call makes. Inserted documents without an _id get one here, on the caller's own
 * object, exactly as the driver does (the app may read `doc._id` afterwards), from `createPk`:
 * the app's own driver's, so the id is of the bson version that driver serializes.
 */
export function writesOf(method: WriteMethod, args: unknown[], options: Doc, createPk: () => unknown = () => new ObjectId()): WriteOp[] {
  const common = { sort: options.sort, hint: options.hint, collation: options.collation };
  const withId = (doc: Doc): Doc => {
    if (doc && typeof doc === 'object' && doc._id === undefined && !options.forceServerObjectId) doc._id = createPk();
    return doc;
  };
  switch (method) {
    case 'insertOne':
      return [{ type: 'insert', doc: withId(args[0] as Doc) }];
    case 'insertMany':
      return (args[0] as Doc[]).map((doc) => ({ type: 'insert', doc: withId(doc) }));
    case 'updateOne':
    case 'updateMany':
    case 'findOneAndUpdate':
      return [
        {
          type: 'update',
          filter: (args[0] as Doc) ?? {},
          update: args[1],
          multi: method === 'updateMany',
          upsert: options.upsert === true,
          arrayFilters: options.arrayFilters as Doc[] | undefined,
          ...common,
        },
      ];
    case 'replaceOne':
    case 'findOneAndReplace':
      return [{ type: 'replace', filter: (args[0] as Doc) ?? {}, replacement: args[1] as Doc, upsert: options.upsert === true, ...common }];
    case 'deleteOne':
    case 'deleteMany':
    case 'findOneAndDelete':
      return [{ type: 'delete', filter: (args[0] as Doc) ?? {}, multi: method === 'deleteMany', ...common }];
    case 'bulkWrite':
      return (args[0] as Doc[]).map((model) => bulkOp(model, withId));
  }
}

function bulkOp(model: Doc, withId: (d: Doc) => Doc): WriteOp {
  const [name, spec] = Object.entries(model)[0] as [string, Doc];
  switch (name) {
    case 'insertOne':
      return { type: 'insert', doc: withId(spec.document as Doc) };
    case 'updateOne':
    case 'updateMany':
      return { type: 'update', filter: (spec.filter as Doc) ?? {}, update: spec.update, multi: name === 'updateMany', upsert: spec.upsert === true, arrayFilters: spec.arrayFilters as Doc[] | undefined, sort: spec.sort, hint: spec.hint, collation: spec.collation };
    case 'replaceOne':
      return { type: 'replace', filter: (spec.filter as Doc) ?? {}, replacement: spec.replacement as Doc, upsert: spec.upsert === true, sort: spec.sort, hint: spec.hint, collation: spec.collation };
    case 'deleteOne':
    case 'deleteMany':
      return { type: 'delete', filter: (spec.filter as Doc) ?? {}, multi: name === 'deleteMany', hint: spec.hint, collation: spec.collation };
    default:
      throw new TypeError(`bulkWrite: unknown operation "${name}"`);
  }
}

/** The effect op of a change a method made to an existing document. */
export function opOf(method: WriteMethod): 'update' | 'replace' {
  return method === 'replaceOne' || method === 'findOneAndReplace' ? 'replace' : 'update';
}
