// The pre-state handoff's promise (design decision 3a): legacy and an *identical* candidate on
// one database produce no finding, whatever the interleaving; and a seeded write bug is found
// every time. Handlers read and write at once (check-then-insert, read-modify-write, counts of
// what the live side changes, deletes, upserts, findOneAnd*), written as an app would, with no
// delays. Hooks in the handoff force the live write to land before, between and after the
// dry-run's reads, including the narrowest window: between a dry-run's database read and its
// handoff read.
import fc from 'fast-check';
import type { Db, MongoClient } from 'mongodb';
import { createShadow, type ShadowSdk } from '../../../capture/sdk';
import { compare, type Comparison } from '../../../compare/engine';
import type { EffectRecord } from '../../../core/effect';
import type { Handoff, HandoffPut } from '../../../runtime/handoff/handoff';
import { MemoryHandoff } from '../../../runtime/handoff/memory';
import { connectMongo, uniqueDbName } from '../../helpers/services';
import { memorySink, type MemorySink, shadowHeaders, sideOf } from '../../helpers/sdk';

jest.setTimeout(600_000);

type Params = Record<string, unknown>;
type Handler = (db: Db, shadow: ShadowSdk, p: Params, buggy: boolean) => Promise<Record<string, unknown>>;

const EMAILS = ['ann@x', 'bob@x', 'cy@x', 'di@x', 'ed@x', 'flo@x'];
const CUSTOMERS = ['c1', 'c2', 'c3'];
const ACCOUNTS = ['A1', 'A2', 'A3', 'A4'];
const KEYS = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8'];

/** The app: one handler per route, the same code on both sides (the candidate is identical unless `buggy`). */
const HANDLERS: Record<string, Handler> = {
  // check-then-insert with uniqueness by a field, as a unique validator does
  async register(db, _s, p) {
    const users = db.collection('users');
    if (await users.findOne({ email: p.email })) return { status: 409 };
    await users.insertOne({ email: p.email, name: String(p.email).toUpperCase() });
    return { status: 201, users: await users.countDocuments({}) };
  },
  // read-modify-write and $inc
  async transfer(db, _s, p, buggy) {
    const accounts = db.collection<{ _id: string; balance: number }>('accounts');
    const amt = p.amount as number;
    const from = await accounts.findOne({ _id: p.from as string });
    if (!from || from.balance < amt) return { status: 422 };
    await accounts.updateOne({ _id: p.from as string }, { $set: { balance: from.balance - amt } });
    await accounts.updateOne({ _id: p.to as string }, { $inc: { balance: buggy && amt > 30 ? amt + 1 : amt } });
    const to = await accounts.findOne({ _id: p.to as string });
    return { status: 200, from: from.balance - amt, to: to?.balance ?? null };
  },
  // find, count and distinct by a field the live side changes, then updateMany
  async close(db, _s, p) {
    const orders = db.collection<{ customer: string; status: string; n: number; tag: string }>('orders');
    const open = await orders.find({ customer: p.customer as string, status: 'open' }).sort({ n: 1, tag: 1 }).limit(3).toArray();
    const count = await orders.countDocuments({ customer: p.customer as string, status: 'open' });
    const tags = (await orders.distinct('tag', { customer: p.customer as string, status: 'open' })).sort();
    if (!open.length) return { status: 404, count };
    const r = await orders.updateMany({ customer: p.customer as string, status: 'open', n: { $lte: open[open.length - 1]!.n } }, { $set: { status: 'closed' } });
    return { status: 200, count, tags, first: open.map((o) => o.n), closed: r.modifiedCount };
  },
  async place(db, _s, p) {
    const orders = db.collection('orders');
    await orders.insertOne({ customer: p.customer, status: 'open', n: p.n, tag: p.tag });
    return { status: 201, open: await orders.countDocuments({ customer: p.customer, status: 'open' }) };
  },
  // a delete whose result decides the answer
  async purge(db, _s, p) {
    const orders = db.collection('orders');
    const r = await orders.deleteOne({ customer: p.customer, status: 'closed' });
    return { status: r.deletedCount ? 200 : 404, left: await orders.countDocuments({ customer: p.customer }) };
  },
  // an upsert whose _id the server picks, then a read of what it made
  async hit(db, _s, p) {
    const counters = db.collection<{ key: string; hits: number }>('counters');
    await counters.updateOne({ key: p.key as string }, { $inc: { hits: 1 } }, { upsert: true });
    const c = await counters.findOne({ key: p.key as string });
    return { status: 200, hits: c?.hits ?? null, keys: await counters.countDocuments({ hits: { $gte: 2 } }) };
  },
  async claim(db, _s, p) {
    const o = await db.collection('orders').findOneAndUpdate({ customer: p.customer, status: 'open' }, { $set: { status: 'claimed' } }, { sort: { n: -1, tag: -1 }, returnDocument: 'after' });
    return o ? { status: 200, n: o.n, tag: o.tag } : { status: 404 };
  },
  async drop(db, _s, p) {
    const o = await db.collection('orders').findOneAndDelete({ customer: p.customer, status: 'claimed' }, { sort: { n: 1, tag: 1 } });
    return o ? { status: 200, n: o.n } : { status: 404 };
  },
  // writes at once (Promise.all), as handlers do; on two documents, because FerretDB 1.24 loses
  // one of two concurrent $inc on the same document (MongoDB applies each atomically)
  async bonus(db, _s, p) {
    const accounts = db.collection<{ _id: string; balance: number }>('accounts');
    const other = ACCOUNTS[(ACCOUNTS.indexOf(p.to as string) + 1) % ACCOUNTS.length]!;
    await Promise.all([accounts.updateOne({ _id: p.to as string }, { $inc: { balance: 1 } }), accounts.updateOne({ _id: other }, { $inc: { balance: 2 } })]);
    const both = await accounts.find({ _id: { $in: [p.to as string, other] } }).sort({ _id: 1 }).toArray();
    return { status: 200, balances: both.map((a) => a.balance) };
  },
  // several writes to one collection, each after reading it (the live side's images arrive over several reads)
  async rebalance(db, _s, p) {
    const accounts = db.collection<{ _id: string; balance: number }>('accounts');
    const seen: number[] = [];
    for (const id of ACCOUNTS) {
      const total = (await accounts.find({}).toArray()).reduce((n, a) => n + a.balance, 0);
      seen.push(total);
      await accounts.updateOne({ _id: id }, { $inc: { balance: id === p.to ? 3 : -1 } });
    }
    return { status: 200, seen };
  },
  // an upsert by a known _id, and a replace
  async profile(db, _s, p) {
    const profiles = db.collection<{ _id: string; visits: number; email?: string }>('profiles');
    const before = await profiles.findOne({ _id: p.email as string });
    await profiles.replaceOne({ _id: p.email as string }, { visits: (before?.visits ?? 0) + 1, email: p.email as string }, { upsert: true });
    return { status: 200, visits: (before?.visits ?? 0) + 1 };
  },
};

const request = fc.oneof(
  fc.record({ route: fc.constant('register'), email: fc.constantFrom(...EMAILS) }),
  fc.record({ route: fc.constant('transfer'), from: fc.constantFrom(...ACCOUNTS), to: fc.constantFrom(...ACCOUNTS), amount: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ route: fc.constant('close'), customer: fc.constantFrom(...CUSTOMERS) }),
  fc.record({ route: fc.constant('place'), customer: fc.constantFrom(...CUSTOMERS), n: fc.integer({ min: 1, max: 9 }), tag: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ route: fc.constant('purge'), customer: fc.constantFrom(...CUSTOMERS) }),
  fc.record({ route: fc.constant('hit'), key: fc.constantFrom(...KEYS) }),
  fc.record({ route: fc.constant('claim'), customer: fc.constantFrom(...CUSTOMERS) }),
  fc.record({ route: fc.constant('drop'), customer: fc.constantFrom(...CUSTOMERS) }),
  fc.record({ route: fc.constant('profile'), email: fc.constantFrom(...EMAILS) }),
  fc.record({ route: fc.constant('bonus'), to: fc.constantFrom(...ACCOUNTS) }),
  fc.record({ route: fc.constant('rebalance'), to: fc.constantFrom(...ACCOUNTS) }),
);

/**
 * When the live request runs relative to the dry-run:
 * - live-first / dry-first: one after the other;
 * - live-inside-dry-read: the whole live request runs between the dry-run's k-th database read and its handoff read;
 * - dry-inside-live-write: the whole dry-run runs after the live side's k-th handoff was acknowledged, before that write is made;
 * - live-split: the live side makes its first write, the dry-run reads up to its k-th handoff read, and the rest of the live
 *   request runs before the dry-run's next database read (the dry-run knows some of the live images, not the newest);
 * - concurrent: both at once, as the proxy sends them.
 */
const schedule = fc.oneof(
  fc.constant({ mode: 'live-first' as const, k: 0 }),
  fc.constant({ mode: 'dry-first' as const, k: 0 }),
  fc.record({ mode: fc.constant('live-inside-dry-read' as const), k: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ mode: fc.constant('dry-inside-live-write' as const), k: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ mode: fc.constant('live-split' as const), k: fc.integer({ min: 1, max: 4 }) }),
  fc.constant({ mode: 'concurrent' as const, k: 0 }),
);
type Schedule = { mode: 'live-first' | 'dry-first' | 'live-inside-dry-read' | 'dry-inside-live-write' | 'live-split' | 'concurrent'; k: number };

/** The handoff with the test's hooks: each side counts its calls, and a hook may run the other side inside one. */
class HookedHandoff implements Handoff {
  readonly kind = 'memory' as const;
  onGet?: (n: number) => Promise<void>;
  onPut?: (n: number, put: HandoffPut) => Promise<void>;
  /** After onGet: answer as of now (the live side ran inside the read), or as of before the hook (it runs after the read). */
  reread = true;
  gets = 0;
  puts = 0;
  constructor(private readonly store: Handoff) {}
  async put(runId: string, shadowId: string, put: HandoffPut): Promise<void> {
    await this.store.put(runId, shadowId, put);
    this.puts += 1;
    await this.onPut?.(this.puts, put); // acknowledged; the live write waits for this promise
  }
  async get(runId: string, shadowId: string) {
    const snap = await this.store.get(runId, shadowId);
    this.gets += 1;
    await this.onGet?.(this.gets); // the database was read before this; the snapshot is taken
    // Re-read after the hook so the answer is as of now, the way a store answers after the database read.
    return this.onGet && this.reread ? this.store.get(runId, shadowId) : snap;
  }
  close = async () => undefined;
}

interface World {
  client: MongoClient;
  db: Db;
  dbName: string;
  legacy: ShadowSdk;
  candidate: ShadowSdk;
  legacyHooks: HookedHandoff;
  candidateHooks: HookedHandoff;
  sinks: { legacy: MemorySink; candidate: MemorySink };
  close(): Promise<void>;
}

async function world(client: MongoClient): Promise<World> {
  const dbName = uniqueDbName('prestate');
  const raw = client.db(dbName);
  await raw.collection('accounts').insertMany(ACCOUNTS.map((_id) => ({ _id, balance: 100 })) as never[]);
  await raw.collection('orders').insertMany(CUSTOMERS.flatMap((customer, i) => [1, 2, 3].map((n) => ({ customer, status: 'open', n: n + i, tag: 'abc'[n - 1]! }))));
  const store = new MemoryHandoff();
  const legacyHooks = new HookedHandoff(store);
  const candidateHooks = new HookedHandoff(store);
  const sinks = { legacy: memorySink(), candidate: memorySink() };
  // The hooks hold a put or a get open while the other side runs: the wait bound is the fault tests' subject, not this one's.
  const legacy = createShadow({ side: 'legacy', sink: sinks.legacy, handoff: { store: legacyHooks, waitMs: 1_000 } });
  const candidate = createShadow({ side: 'candidate', sink: sinks.candidate, handoff: { store: candidateHooks, pendingWaitMs: 2_000 } });
  const db = raw;
  return {
    client,
    db,
    dbName,
    legacy,
    candidate,
    legacyHooks,
    candidateHooks,
    sinks,
    async close() {
      await legacy.close();
      await candidate.close();
      await store.close();
      await raw.dropDatabase();
    },
  };
}

/** Runs one request on both sides under a schedule; returns its comparison. */
async function runRequest(w: World, i: number, req: Params, s: Schedule, buggy: boolean): Promise<Comparison> {
  const shadowId = `q${i}`;
  const run = 'prestate';
  const route = String(req.route);
  const handler = HANDLERS[route]!;
  const info = { method: 'POST', path: `/${route}`, route: `/${route}` };
  const side = (shadow: ShadowSdk, mode: string, bug: boolean) => () =>
    shadow.withShadowContext(shadowHeaders(shadowId, shadow.side, mode, run), async () => {
      const db = shadow.mongo(w.db);
      const answer = await handler(db, shadow, req, bug).catch((err: Error) => ({ status: 500, error: err.message }));
      await shadow.effect({ kind: 'http', target: `POST /answer${info.route}`, payload: answer }, async () => answer, answer);
      return answer;
    }, info);
  const live = side(w.legacy, 'live', false);
  const dry = side(w.candidate, 'dry-run', buggy);
  let liveRun: Promise<unknown> | undefined;
  let dryRun: Promise<unknown> | undefined;
  const startLive = () => (liveRun ??= live());
  const startDry = () => (dryRun ??= dry());
  w.legacyHooks.gets = w.legacyHooks.puts = w.candidateHooks.gets = w.candidateHooks.puts = 0;
  w.legacyHooks.onPut = w.candidateHooks.onGet = undefined;
  w.candidateHooks.reread = true;
  switch (s.mode) {
    case 'live-first':
      await startLive();
      await startDry();
      break;
    case 'dry-first':
      await startDry();
      await startLive();
      break;
    case 'live-inside-dry-read':
      w.candidateHooks.onGet = async (n) => {
        if (n === s.k) await startLive();
      };
      await startDry();
      await startLive();
      break;
    case 'dry-inside-live-write':
      // Not on a put announcing a pending upsert: the dry-run would wait for an id the live side cannot report while held.
      w.legacyHooks.onPut = async (n, put) => {
        if (n >= s.k && !put.upserts?.some((u) => u.ids === undefined)) await startDry();
      };
      await startLive();
      await startDry();
      break;
    case 'live-split': {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let reached!: () => void;
      const split = new Promise<void>((r) => (reached = r));
      w.legacyHooks.onPut = async (n) => {
        if (n !== 2) return;
        reached();
        await released;
      };
      w.candidateHooks.reread = false;
      w.candidateHooks.onGet = async (n) => {
        if (n !== s.k) return;
        release();
        await startLive();
      };
      const live = startLive();
      await Promise.race([split, live]);
      await startDry();
      release();
      await live;
      break;
    }
    case 'concurrent':
      await Promise.all([startLive(), startDry()]);
      break;
  }
  await w.legacy.flush(5_000);
  await w.candidate.flush(5_000);
  return compare({ runId: run, shadowId, legacy: sideOf(w.sinks.legacy.records, shadowId), candidate: sideOf(w.sinks.candidate.records, shadowId) }, { now: '2026-12-02T00:00:00.000Z' });
}

describe('pre-state handoff: an identical candidate on the live side\'s database', () => {
  let client: MongoClient;
  beforeAll(async () => {
    client = await connectMongo();
  });
  afterAll(async () => {
    await client?.close();
  });

  it('shows no finding over 1,000+ requests, whatever the interleaving (fast-check)', async () => {
    const tally = { requests: 0, byMode: {} as Record<string, number>, byRoute: {} as Record<string, number>, liveWrites: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(request, schedule), { minLength: 210, maxLength: 210 }), async (requests) => {
        const w = await world(client);
        try {
          for (const [i, [req, s]] of requests.entries()) {
            const c = await runRequest(w, i, req, s, false);
            tally.requests += 1;
            tally.byMode[s.mode] = (tally.byMode[s.mode] ?? 0) + 1;
            tally.byRoute[String(req.route)] = (tally.byRoute[String(req.route)] ?? 0) + 1;
            if (c.sides.legacy.effects > 1) tally.liveWrites += 1;
            // Every comparison is a plain match: no finding, nothing inconclusive or incomplete.
            if (c.verdict !== 'match') throw new Error(`request ${i} ${JSON.stringify(req)} under ${JSON.stringify(s)}: ${c.verdict} ${JSON.stringify(c.findings.slice(0, 3))} ${JSON.stringify(c.inconclusive ?? c.incomplete ?? c.error)}`);
          }
        } finally {
          await w.close();
        }
      }),
      // PRESTATE_SEED explores other workloads: `PRESTATE_SEED=7 npx jest test/integration/sdk/prestate.test.ts`.
      { numRuns: 5, seed: Number(process.env.PRESTATE_SEED ?? 20261202), endOnFailure: true },
    );
    expect(tally.requests).toBeGreaterThanOrEqual(1_000);
    // The schedules and routes were all exercised, and most requests wrote on the live side.
    for (const m of ['live-first', 'dry-first', 'live-inside-dry-read', 'dry-inside-live-write', 'live-split', 'concurrent']) expect(tally.byMode[m]).toBeGreaterThan(100);
    for (const r of Object.keys(HANDLERS)) expect(tally.byRoute[r]).toBeGreaterThan(50);
    expect(tally.liveWrites).toBeGreaterThan(tally.requests / 2);
  });

  it('finds a seeded write bug every time it is reached, under every interleaving, and nothing else', async () => {
    const w = await world(client);
    let reached = 0;
    try {
      const requests = fc.sample(fc.tuple(fc.record({ from: fc.constantFrom(...ACCOUNTS), to: fc.constantFrom(...ACCOUNTS), amount: fc.integer({ min: 1, max: 45 }) }), schedule), { numRuns: 150, seed: 7 });
      for (const [i, [t, s]] of requests.entries()) {
        const c = await runRequest(w, i, { route: 'transfer', ...t }, s, true);
        const answer = w.sinks.legacy.records.find((r): r is EffectRecord => r.shadowId === `q${i}` && r.type === 'effect' && r.target.startsWith('POST /answer'));
        const hits = (answer?.payload as { status?: number } | undefined)?.status === 200 && t.amount > 30;
        if (hits) {
          reached += 1;
          expect(c.verdict).toBe('mismatch');
          expect(c.findings.map((f) => `${f.target} ${f.path}`)).toEqual(expect.arrayContaining([`${w.dbName}.accounts balance`]));
        } else expect({ i, verdict: c.verdict, findings: c.findings }).toEqual({ i, verdict: 'match', findings: [] });
      }
    } finally {
      await w.close();
    }
    expect(reached).toBeGreaterThan(10);
  });
});
