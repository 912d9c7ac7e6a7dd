// Which applications read each collection, where the MongoDB server lets us see it: the
// profiler's recent reads (if someone turned it on) and a few samples of `$currentOp`, both with
// the client's `appName`. Read-only: it never changes the profiling level. What it cannot see
// is said, not guessed.
import type { MongoClient } from 'mongodb';
import type { ConsumerInput } from '../../compare/engine';

export interface MongoDiscoveryOptions {
  client: MongoClient;
  /** The database the services write. */
  db: string;
  /** How long to sample `$currentOp` (0: once). */
  sampleSeconds?: number;
  /** Applications left out: shadowdiff's own, and the services under test (they read what they write). */
  ignoreApps?: readonly string[];
}

export interface MongoDiscovery {
  consumers: ConsumerInput[];
  /** Where it looked, and what each source gave. */
  sources: { profiler: string; currentOp: string };
  limits: string[];
}

const READ_COMMANDS = ['find', 'aggregate', 'count', 'distinct', 'getMore'] as const;

export const MONGO_LIMITS = [
  'a read is seen only while the profiler records it or while it is running when $currentOp is sampled: a nightly job, a reader on another cluster (a replica, an export, an ETL tool), or a change stream opened before the sampling may not show',
  'an application that sets no appName shows as "unnamed" by its client address, or not at all',
  'it sees which collections an application reads, not which fields: each proposal reads whole documents until you narrow its "paths"',
];

export async function discoverMongoReaders(o: MongoDiscoveryOptions): Promise<MongoDiscovery> {
  const ignore = new Set(['shadowdiff', ...(o.ignoreApps ?? [])]);
  const readers = new Map<string, Set<string>>(); // app → collections
  const add = (app: string | undefined, ns: string | undefined) => {
    if (!ns || !ns.startsWith(`${o.db}.`) || ns.startsWith(`${o.db}.system.`)) return;
    const name = app || 'unnamed';
    if (ignore.has(name)) return;
    let set = readers.get(name);
    if (!set) readers.set(name, (set = new Set()));
    set.add(ns);
  };

  const profiler = await fromProfiler(o, add);
  const currentOp = await fromCurrentOp(o, add);
  const consumers: ConsumerInput[] = [...readers].sort(([a], [b]) => a.localeCompare(b)).map(([app, targets]) => ({
    name: app.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 90) || 'unnamed',
    owner: `unknown: the team running ${app}`,
    reads: [...targets].sort().map((target) => ({ target, kind: 'db' as const })),
    note: `discovered from MongoDB (${[profiler.startsWith('read') ? 'profiler' : '', currentOp.startsWith('sampled') ? '$currentOp' : ''].filter(Boolean).join(', ')}): appName ${JSON.stringify(app)} read these collections. Set "owner", and narrow each read to the "paths" it uses.`,
  }));
  return { consumers, sources: { profiler, currentOp }, limits: MONGO_LIMITS };
}

type Add = (app: string | undefined, ns: string | undefined) => void;

async function fromProfiler(o: MongoDiscoveryOptions, add: Add): Promise<string> {
  const db = o.client.db(o.db);
  try {
    const level = (await db.command({ profile: -1 })) as { was?: number };
    let n = 0;
    const cursor = db.collection('system.profile').find({}, { sort: { ts: -1 }, limit: 10_000, projection: { op: 1, ns: 1, appName: 1, command: 1 } });
    for await (const e of cursor) {
      const cmd = (e.command ?? {}) as Record<string, unknown>;
      const read = e.op === 'query' || e.op === 'getmore' || READ_COMMANDS.some((c) => c in cmd);
      if (!read) continue;
      n += 1;
      add(e.appName as string | undefined, e.ns as string | undefined);
    }
    if (n === 0) return level.was ? `read: the profiler (level ${level.was}) holds no reads on ${o.db}` : `off on ${o.db} (level 0): turn it on for a while (db.setProfilingLevel(1, { slowms: 0 })) to see every reader; shadowdiff never changes it`;
    return `read ${n} profiled read(s)`;
  } catch (err) {
    return `not available: ${(err as Error).message}`;
  }
}

async function fromCurrentOp(o: MongoDiscoveryOptions, add: Add): Promise<string> {
  const admin = o.client.db('admin');
  const until = Date.now() + (o.sampleSeconds ?? 0) * 1000;
  let samples = 0;
  let ops = 0;
  try {
    do {
      samples += 1;
      for await (const op of admin.aggregate([{ $currentOp: { allUsers: true, idleConnections: false, localOps: true } }, { $match: { type: 'op', ns: { $regex: `^${o.db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.` } } }])) {
        const cmd = (op.command ?? {}) as Record<string, unknown>;
        if (!READ_COMMANDS.some((c) => c in cmd)) continue;
        ops += 1;
        add((op.appName as string | undefined) ?? (op.client ? `unnamed at ${String(op.client)}` : undefined), op.ns as string | undefined);
      }
      if (Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    } while (Date.now() < until);
    return `sampled ${samples} time(s): ${ops} read(s) in flight`;
  } catch (err) {
    return `not available: ${(err as Error).message}`;
  }
}
