// A dry-run request's would-be writes, per collection, so that its own reads see them: a
// handler that inserts an order and reads it back behaves as in live mode. Reads merge the
// database (never written), rewound to the request's pre-state (prestate.ts), with the
// overlay; see View.find for how order and limits stay right.
import type { Collection } from 'mongodb';
import type { Rewind, RewoundImage } from './rewind';
import { clone, type Doc, idKey, matches, shape } from './documents';

interface Entry {
  id: unknown;
  /** The document as this request left it; null once deleted. */
  doc: Doc | null;
  /** Created by this request (it was not in the database): it sorts after stored documents. */
  created: boolean;
}

export class Overlay {
  private readonly byNs = new Map<string, Map<string, Entry>>();

  /**
   * The view of one collection as this request sees it; `rewind`: the live side's writes to undo
   * beneath; `seen`: told of every document read from the database (read fingerprints, when there is no rewind).
   */
  view(ns: string, collection: Collection, rewind?: Rewind, seen?: (docs: unknown[]) => void): View {
    let entries = this.byNs.get(ns);
    if (!entries) this.byNs.set(ns, (entries = new Map()));
    return new View(ns, entries, collection, rewind, seen);
  }

  isEmpty(ns: string): boolean {
    return !this.byNs.get(ns)?.size;
  }
}

export interface FindOptions {
  sort?: unknown;
  skip?: number;
  limit?: number;
  projection?: Doc;
  session?: unknown;
  collation?: unknown;
  hint?: unknown;
}

/** A document as this request sees it where the database does not have the last word. */
interface Layered {
  id: unknown;
  doc: Doc | null;
  created: boolean;
}

/** Queries again when the handoff kept growing under a read (a live request writing fast): at most this often. */
const MAX_ATTEMPTS = 4;

/**
 * One collection as a dry-run request sees it, in three layers: the database, minus the live
 * side's writes of the same request (the rewind: documents restored to their before-images,
 * inserted ones hidden), plus this request's own would-be writes (the overlay). The database
 * is always read before the handoff; a read that finds the handoff grew (the live side wrote
 * a document the query did not exclude) is made again, so no live write can leak through.
 */
export class View {
  constructor(
    private readonly ns: string,
    private readonly entries: Map<string, Entry>,
    private readonly collection: Collection,
    private readonly rewind?: Rewind,
    private readonly seen?: (docs: unknown[]) => void,
  ) {}

  get empty(): boolean {
    return this.entries.size === 0 && !this.rewind;
  }

  /**
   * Documents matching the filter as this request sees them (full documents, copies). With a
   * sort, stored documents not in a layer come sorted from the server and the layers' matches
   * are merged in; without one, the server's natural order is kept, layered versions replacing
   * stored ones in place, documents the live side deleted after them, created documents last.
   * The server is asked for skip + limit (+ the layers' size) documents, enough whatever the
   * layers hide.
   */
  find(filter: Doc, options: FindOptions = {}): Promise<Doc[]> {
    return this.consistent((layers) => this.findOnce(filter, options, layers));
  }

  /** True when a document with this _id exists as this request sees it. */
  async exists(id: unknown, session?: unknown): Promise<boolean> {
    const key = idKey(id);
    const e = this.entries.get(key);
    if (e) return e.doc !== null;
    const opts = session ? { session: session as never } : {};
    if (this.seen) {
      const doc = await this.collection.findOne({ _id: id } as never, opts);
      if (doc) this.seen([doc]);
      return doc !== null;
    }
    const stored = (await this.collection.countDocuments({ _id: id } as never, { limit: 1, ...opts })) > 0;
    if (!this.rewind) return stored;
    await this.rewind.refresh(this.ns, new Map());
    const img = this.rewind.known(this.ns).get(key);
    return img ? img.before !== null : stored;
  }

  count(filter: Doc, session?: unknown): Promise<number> {
    const opts = session ? { session: session as never } : {};
    return this.consistent(async (layers) => {
      if (layers.size === 0) return this.collection.countDocuments(filter, opts);
      const ids = [...layers.values()].map((e) => e.id);
      const stored = await this.collection.countDocuments({ $and: [filter, { _id: { $nin: ids } }] }, opts);
      let mine = 0;
      for (const e of layers.values()) if (e.doc && matches(filter, e.doc)) mine += 1;
      return stored + mine;
    });
  }

  /** Records this request's version of a document (null: deleted). */
  put(id: unknown, doc: Doc | null, created = false): void {
    const key = idKey(id);
    const e = this.entries.get(key);
    if (e && !created) e.doc = doc && clone(doc);
    else {
      // Inserted (again, after a delete): it goes to the end of the natural order.
      this.entries.delete(key);
      this.entries.set(key, { id, doc: doc && clone(doc), created });
    }
  }

  /**
   * Runs a database read with the layers known so far, then reads the handoff; when the live
   * side handed off a document of this collection the read did not exclude, runs it again.
   */
  private async consistent<T>(read: (layers: Map<string, Layered>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      // A copy: the rewind adds to its own map as it learns, and the refresh compares against what this read excluded.
      const known = new Map(this.rewind?.known(this.ns) ?? []);
      const result = await read(this.layers(known));
      if (!this.rewind || !(await this.rewind.refresh(this.ns, known))) return result;
      if (attempt >= MAX_ATTEMPTS) {
        this.rewind.unknown(`the live side kept writing ${this.ns} while a read was rewound`);
        return result;
      }
    }
  }

  /** The overlay over the rewind: what this request wrote, else what the live side's write replaced. */
  private layers(known: ReadonlyMap<string, RewoundImage>): Map<string, Layered> {
    if (!known.size) return this.entries;
    const out = new Map<string, Layered>();
    for (const [k, img] of known) out.set(k, { id: img.id, doc: img.before, created: false });
    for (const [k, e] of this.entries) out.set(k, e);
    return out;
  }

  private async findOnce(filter: Doc, options: FindOptions, layers: Map<string, Layered>): Promise<Doc[]> {
    const base = { session: options.session, collation: options.collation, hint: options.hint } as Doc;
    for (const k of Object.keys(base)) if (base[k] === undefined) delete base[k];
    const window = options.limit ? (options.skip ?? 0) + Math.abs(options.limit) : 0;
    if (layers.size === 0) {
      const docs = (await this.collection.find(filter, { ...base, sort: options.sort as never, skip: options.skip, limit: options.limit }).toArray()) as Doc[];
      this.seen?.(docs);
      return docs;
    }
    const ids = [...layers.values()].map((e) => e.id);
    let merged: Doc[];
    if (options.sort !== undefined && options.sort !== null) {
      const stored = (await this.collection.find({ $and: [filter, { _id: { $nin: ids } }] }, { ...base, sort: options.sort as never, limit: window }).toArray()) as Doc[];
      this.seen?.(stored);
      const mine = [...layers.values()].filter((e) => e.doc && matches(filter, e.doc)).map((e) => clone(e.doc!));
      // Ties go the way a collection scan leaves them, which for driver ObjectIds is _id order (mingo's sort is stable).
      merged = shape([...stored, ...mine].sort((a, b) => idOrder(a._id, b._id)), { sort: options.sort });
    } else {
      const stored = (await this.collection.find({ $or: [filter, { _id: { $in: ids } }] }, { ...base, limit: window ? window + layers.size : 0 }).toArray()) as Doc[];
      this.seen?.(stored);
      merged = [];
      const inDatabase = new Set<string>();
      for (const d of stored) {
        const k = idKey(d._id);
        const e = layers.get(k);
        if (!e) merged.push(d);
        else {
          inDatabase.add(k);
          if (!e.created && e.doc && matches(filter, e.doc)) merged.push(clone(e.doc));
        }
      }
      // Documents the live side deleted are no longer in the database, nor is their place in its
      // natural order: they go where their _id sorts among the stored ones (insertion order, for
      // the ObjectIds drivers generate), so an unsorted deleteOne picks what the live one picked.
      for (const [k, e] of layers) {
        if (e.created || inDatabase.has(k) || !e.doc || !matches(filter, e.doc)) continue;
        const at = merged.findIndex((d) => idOrder(d._id, e.id) > 0);
        merged.splice(at < 0 ? merged.length : at, 0, clone(e.doc));
      }
      for (const e of layers.values()) if (e.created && e.doc && matches(filter, e.doc)) merged.push(clone(e.doc));
    }
    return shape(merged, { skip: options.skip, limit: options.limit });
  }
}

/** The order of two _ids of one type (ObjectIds by their bytes, numbers, strings); 0 when they do not compare. */
function idOrder(a: unknown, b: unknown): number {
  const hex = (v: unknown) => (v && typeof v === 'object' && (v as { _bsontype?: string })._bsontype === 'ObjectId' ? (v as { toHexString(): string }).toHexString() : undefined);
  const ha = hex(a);
  const hb = hex(b);
  if (ha !== undefined && hb !== undefined) return ha < hb ? -1 : ha > hb ? 1 : 0;
  if ((typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string')) return a < b ? -1 : a > b ? 1 : 0;
  return 0;
}
