// The example services' database when no MONGODB_URL is set, so `shadowdiff demo` needs nothing
// installed: the part of the official driver's MongoClient/Db/Collection API the example services
// and the SDK use, in memory, with mingo's query and update semantics. Documents go in and out
// through BSON, as they would over the wire, so ObjectIds, Dates and copies behave as with a
// server. It is a stand-in for the demo, not a database: no indexes, no sessions, one process.
import { Query, update as applyUpdate } from 'mingo';
import { BSON, ObjectId } from 'mongodb';

type Doc = Record<string, unknown>;

interface FindOptions {
  sort?: Record<string, 1 | -1>;
  skip?: number;
  limit?: number;
  projection?: Doc;
}

const copy = (doc: Doc): Doc => BSON.deserialize(BSON.serialize(doc));

class MemoryCursor {
  private readonly options: FindOptions;

  constructor(
    private readonly docs: () => Doc[],
    private readonly filter: Doc,
    options: FindOptions,
  ) {
    this.options = { ...options };
  }

  sort(sort: Record<string, 1 | -1>): this {
    this.options.sort = sort;
    return this;
  }

  skip(n: number): this {
    this.options.skip = n;
    return this;
  }

  limit(n: number): this {
    this.options.limit = n;
    return this;
  }

  project(projection: Doc): this {
    this.options.projection = projection;
    return this;
  }

  async toArray(): Promise<Doc[]> {
    const { sort, skip, limit, projection } = this.options;
    let cursor = new Query(this.filter).find(this.docs(), projection && Object.keys(projection).length ? projection : undefined);
    if (sort) cursor = cursor.sort(sort);
    if (skip) cursor = cursor.skip(skip);
    if (limit) cursor = cursor.limit(limit);
    return (cursor.all() as Doc[]).map(copy);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Doc> {
    yield* await this.toArray();
  }
}

class MemoryCollection {
  private readonly docs: Doc[] = [];

  constructor(
    readonly dbName: string,
    readonly collectionName: string,
  ) {}

  get namespace(): string {
    return `${this.dbName}.${this.collectionName}`;
  }

  find(filter: Doc = {}, options: FindOptions = {}): MemoryCursor {
    return new MemoryCursor(() => this.docs, filter, options);
  }

  async findOne(filter: Doc = {}, options: FindOptions = {}): Promise<Doc | null> {
    return (await this.find(filter, { ...options, limit: 1 }).toArray())[0] ?? null;
  }

  async countDocuments(filter: Doc = {}, options: FindOptions = {}): Promise<number> {
    return (await this.find(filter, options).toArray()).length;
  }

  async insertOne(doc: Doc): Promise<{ acknowledged: true; insertedId: unknown }> {
    // The driver assigns the _id on the caller's document, so the caller sees it afterwards.
    if (doc._id === undefined) doc._id = new ObjectId();
    if (new Query({ _id: doc._id }).find(this.docs).limit(1).all().length) {
      throw Object.assign(new Error(`E11000 duplicate key error collection: ${this.namespace} index: _id_`), { code: 11000 });
    }
    this.docs.push(copy(doc));
    return { acknowledged: true, insertedId: doc._id };
  }

  /** No upsert, no arrayFilters: what the example services use. */
  async updateOne(filter: Doc, update: Doc): Promise<{ acknowledged: true; matchedCount: number; modifiedCount: number; upsertedCount: 0; upsertedId: null }> {
    const target = new Query(filter).find(this.docs).limit(1).all()[0] as Doc | undefined;
    if (!target) return { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0, upsertedId: null };
    const changed = applyUpdate(target, update as never, undefined, filter as never, { cloneMode: 'deep' });
    return { acknowledged: true, matchedCount: 1, modifiedCount: changed.length ? 1 : 0, upsertedCount: 0, upsertedId: null };
  }

  async deleteMany(filter: Doc = {}): Promise<{ acknowledged: true; deletedCount: number }> {
    const gone = new Set(new Query(filter).find(this.docs).all());
    const kept = this.docs.filter((d) => !gone.has(d));
    this.docs.splice(0, this.docs.length, ...kept);
    return { acknowledged: true, deletedCount: gone.size };
  }

  async createIndex(): Promise<string> {
    return 'memory';
  }
}

class MemoryDb {
  private readonly collections = new Map<string, MemoryCollection>();

  constructor(readonly databaseName: string) {}

  collection(name: string): MemoryCollection {
    let c = this.collections.get(name);
    if (!c) this.collections.set(name, (c = new MemoryCollection(this.databaseName, name)));
    return c;
  }
}

/** Shaped like a connected MongoClient: `db(name).collection(name)`. */
export class MemoryMongoClient {
  private readonly dbs = new Map<string, MemoryDb>();

  async connect(): Promise<this> {
    return this;
  }

  db(name = 'test'): MemoryDb {
    let d = this.dbs.get(name);
    if (!d) this.dbs.set(name, (d = new MemoryDb(name)));
    return d;
  }

  async close(): Promise<void> {}
}
