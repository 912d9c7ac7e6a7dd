// shadow.mongoose(mongooseOrConnection): Mongoose first-class. Mongoose talks to MongoDB through
// the official driver's Db and Collection objects it keeps on each connection: `connection.db`,
// set when it connects (and again on a reconnect or useDb), and one driver collection per model,
// taken from that Db. Instrumenting the client Mongoose was handed does nothing, because Mongoose
// never asks it for a Db again. So here the connection's `db` becomes an accessor that hands out
// the instrumented Db, and the collections already opened get instrumented ones: every save,
// update, delete, insertMany, populate read and plugin query (a unique validator's count) goes
// through shadow.mongo's wrappers from then on, whenever the connection connects.
//
// This is the one place the SDK defines a property on an object of the app's: Mongoose offers no
// hook for the Db it uses. Nothing else of Mongoose is touched.
import { ShadowdiffError } from '../../../core/errors';
import type { Shadow } from '../shadow';
import { instrumentMongo } from './instrument';

/** What the SDK needs of a Mongoose connection (Mongoose 8 and 9). */
interface ConnectionLike {
  db?: object | undefined;
  collections: Record<string, { collection?: object | null }>;
  useDb?: (...args: unknown[]) => ConnectionLike;
  on?: unknown;
}

/** What the SDK needs of the Mongoose module (the default instance or `new Mongoose()`). */
interface MongooseLike {
  connection: ConnectionLike;
  connections: ConnectionLike[];
  createConnection: (...args: unknown[]) => ConnectionLike;
}

const done = new WeakMap<Shadow, WeakSet<object>>();

export function instrumentMongoose<T extends object>(shadow: Shadow, target: T): T {
  if (isMongoose(target)) {
    for (const conn of target.connections) instrumentConnection(shadow, conn);
    if (!seen(shadow, target)) {
      // Connections made after this call are instrumented as they are made.
      const create = target.createConnection.bind(target);
      target.createConnection = (...args: unknown[]) => instrumentConnection(shadow, create(...args));
    }
    return target;
  }
  if (isConnection(target)) return instrumentConnection(shadow, target) as T;
  throw new ShadowdiffError('SHADOWDIFF_CONFIG', 'shadow.mongoose() takes the mongoose module (or a Mongoose instance) or one of its connections (mongoose.connection, mongoose.createConnection()).');
}

function instrumentConnection<C extends ConnectionLike>(shadow: Shadow, conn: C): C {
  if (seen(shadow, conn)) return conn;
  let raw = conn.db;
  Object.defineProperty(conn, 'db', {
    configurable: true,
    enumerable: true,
    get: () => (raw ? instrumentMongo(shadow, raw) : raw),
    set: (db: object | undefined) => {
      raw = db;
    },
  });
  // Models compiled and opened before this call keep a driver collection of their own.
  for (const c of Object.values(conn.collections)) if (c.collection) c.collection = instrumentMongo(shadow, c.collection);
  // useDb shares the client under another database name, as a connection of its own.
  if (typeof conn.useDb === 'function') {
    const useDb = conn.useDb.bind(conn);
    conn.useDb = (...args: unknown[]) => instrumentConnection(shadow, useDb(...args));
  }
  shadow.mongoInstrumented();
  return conn;
}

/** True the second time for the same object: instrumenting twice changes nothing. */
function seen(shadow: Shadow, target: object): boolean {
  let set = done.get(shadow);
  if (!set) done.set(shadow, (set = new WeakSet()));
  if (set.has(target)) return true;
  set.add(target);
  return false;
}

function isMongoose(v: object): v is MongooseLike {
  const m = v as Partial<MongooseLike>;
  return Array.isArray(m.connections) && typeof m.createConnection === 'function' && typeof m.connection === 'object' && m.connection !== null;
}

function isConnection(v: object): v is ConnectionLike {
  const c = v as Partial<ConnectionLike> & { openUri?: unknown; models?: unknown };
  return typeof c.collections === 'object' && c.collections !== null && typeof c.openUri === 'function' && typeof c.models === 'object';
}
