// A dry-run request's would-be writes, per collection, so that its own reads see them: a
// handler that inserts an order and reads it back behaves as in live mode. Reads merge the
// database (never written) with the overlay; see View.find for how order and limits stay right.
import type { Collection } from 'mongodb';
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

  /** The view of one collection as this request sees it. */
  view(ns: string, collection: Collection): View {
    let entries = this.byNs.get(ns);
    if (!entries) this.byNs.set(ns, (entries = new Map()));
    return new View(entries, collection);
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

export class View {
  constructor(
    private readonly entries: Map<string, Entry>,
    private readonly collection: Collection,
  ) {}

  get empty(): boolean {
    return this.entries.size === 0;
  }

  /**
   * Documents matching the filter as this request sees them (full documents, copies). With a
   * sort, stored documents not in the overlay come sorted from the server and the overlay's
   * matches are merged in; without one, the server's natural order is kept, overlay versions
   * replacing stored ones in place and created documents after them. Either way the server is
   * asked for skip + limit (+ the overlay's size) documents, enough whatever the overlay hides.
   */
  async find(filter: Doc, options: FindOptions = {}): Promise<Doc[]> {
    const base = { session: options.session, collation: options.collation, hint: options.hint } as Doc;
    for (const k of Object.keys(base)) if (base[k] === undefined) delete base[k];
    const window = options.limit ? (options.skip ?? 0) + Math.abs(options.limit) : 0;
    if (this.entries.size === 0) {
      return (await this.collection.find(filter, { ...base, sort: options.sort as never, skip: options.skip, limit: options.limit }).toArray()) as Doc[];
    }
    const ids = [...this.entries.values()].map((e) => e.id);
    let merged: Doc[];
    if (options.sort !== undefined && options.sort !== null) {
      const stored = (await this.collection.find({ $and: [filter, { _id: { $nin: ids } }] }, { ...base, sort: options.sort as never, limit: window }).toArray()) as Doc[];
      const mine = [...this.entries.values()].filter((e) => e.doc && matches(filter, e.doc)).map((e) => clone(e.doc!));
      merged = shape([...stored, ...mine], { sort: options.sort });
    } else {
      const stored = (await this.collection.find({ $or: [filter, { _id: { $in: ids } }] }, { ...base, limit: window ? window + this.entries.size : 0 }).toArray()) as Doc[];
      merged = [];
      for (const d of stored) {
        const e = this.entries.get(idKey(d._id));
        if (!e) merged.push(d);
        else if (!e.created && e.doc && matches(filter, e.doc)) merged.push(clone(e.doc));
      }
      for (const e of this.entries.values()) if (e.created && e.doc && matches(filter, e.doc)) merged.push(clone(e.doc));
    }
    return shape(merged, { skip: options.skip, limit: options.limit });
  }

  /** True when a document with this _id exists as this request sees it. */
  async exists(id: unknown, session?: unknown): Promise<boolean> {
    const e = this.entries.get(idKey(id));
    if (e) return e.doc !== null;
    return (await this.collection.countDocuments({ _id: id } as never, { limit: 1, ...(session ? { session: session as never } : {}) })) > 0;
  }

  async count(filter: Doc, session?: unknown): Promise<number> {
    const opts = session ? { session: session as never } : {};
    if (this.entries.size === 0) return this.collection.countDocuments(filter, opts);
    const ids = [...this.entries.values()].map((e) => e.id);
    const stored = await this.collection.countDocuments({ $and: [filter, { _id: { $nin: ids } }] }, opts);
    let mine = 0;
    for (const e of this.entries.values()) if (e.doc && matches(filter, e.doc)) mine += 1;
    return stored + mine;
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
}
