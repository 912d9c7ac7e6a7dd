// Dry-run cursors: the driver's own cursor, wrapped. Chained options (sort, limit, skip,
// project, map) go to the real cursor and are remembered; when the results are first asked
// for, a request that has written to the collection gets them from its overlay view instead.
import { clone, type Doc, shape } from './documents';
import type { View } from './overlay';

const CHAIN = new Set(['sort', 'limit', 'skip', 'project', 'map', 'batchSize', 'maxTimeMS', 'comment', 'hint', 'collation', 'allowDiskUse']);
const TERMINAL = new Set(['toArray', 'next', 'tryNext', 'hasNext', 'forEach']);

export interface CursorHooks {
  /** Applied to the view's documents (the rest of an aggregation pipeline). */
  post?: (docs: Doc[]) => Doc[];
  /** Run after each read the real cursor answered (a check that needs the database read first). */
  afterRead?: () => Promise<void>;
  /** Told of the documents the real cursor returned (read fingerprints). */
  seen?: (docs: unknown[]) => void;
}

export function overlayCursor(real: object, view: () => View | undefined, filter: Doc, options: Doc, hooks: CursorHooks = {}): object {
  const { post, afterRead, seen } = hooks;
  const state = { sort: options.sort, limit: options.limit as number | undefined, skip: options.skip as number | undefined, projection: options.projection as Doc | undefined };
  const maps: ((d: unknown) => unknown)[] = [];
  let results: Promise<unknown[] | undefined> | undefined;
  let position = 0;
  const materialize = (): Promise<unknown[] | undefined> => {
    results ??= (async () => {
      const v = view();
      if (!v) return undefined;
      let docs = await v.find(filter, { sort: state.sort, skip: state.skip, limit: state.limit, session: options.session });
      docs = docs.map(clone);
      if (post) docs = post(docs);
      if (state.projection && !post) docs = shape(docs, { projection: state.projection });
      return docs.map((d) => maps.reduce<unknown>((x, f) => f(x), d));
    })();
    return results;
  };
  const proxy: object = new Proxy(real, {
    get(target, prop) {
      const own = Reflect.get(target, prop, target);
      if (typeof prop === 'string' && CHAIN.has(prop) && typeof own === 'function') {
        return (...args: unknown[]) => {
          if (prop === 'sort') state.sort = args[0];
          else if (prop === 'limit') state.limit = args[0] as number;
          else if (prop === 'skip') state.skip = args[0] as number;
          else if (prop === 'project') state.projection = args[0] as Doc;
          else if (prop === 'map') maps.push(args[0] as (d: unknown) => unknown);
          own.apply(target, args);
          return proxy;
        };
      }
      if (typeof prop === 'string' && TERMINAL.has(prop) && typeof own === 'function') {
        return async (...args: unknown[]) => {
          const docs = await materialize();
          if (!docs) {
            const r = await own.apply(target, args);
            if (seen) {
              if (prop === 'toArray') seen(r as unknown[]);
              else if (prop === 'next' || prop === 'tryNext') seen([r]);
            }
            await afterRead?.();
            return r;
          }
          switch (prop) {
            case 'toArray': {
              const rest = docs.slice(position);
              position = docs.length;
              return rest;
            }
            case 'next':
            case 'tryNext':
              return position < docs.length ? docs[position++] : null;
            case 'hasNext':
              return position < docs.length;
            case 'forEach': {
              const fn = args[0] as (d: unknown) => unknown;
              while (position < docs.length) if ((await fn(docs[position++])) === false) break;
              return undefined;
            }
          }
          return undefined;
        };
      }
      if (prop === Symbol.asyncIterator) {
        return async function* () {
          const docs = await materialize();
          if (!docs) {
            for await (const d of target as AsyncIterable<unknown>) {
              seen?.([d]);
              yield d;
            }
            await afterRead?.();
            return;
          }
          while (position < docs.length) yield docs[position++];
        };
      }
      return typeof own === 'function' ? own.bind(target) : own;
    },
  });
  return proxy;
}
