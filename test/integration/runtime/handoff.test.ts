// The pre-state handoff contract on every adapter: embedded, hosted over HTTP, and Redis (real
// servers). The SDKs rely on exactly these semantics; see runtime/handoff/handoff.ts.
import type { Handoff } from '../../../runtime/handoff/handoff';
import { HttpHandoff, listenHandoff } from '../../../runtime/handoff/http';
import { MemoryHandoff } from '../../../runtime/handoff/memory';
import { RedisHandoff } from '../../../runtime/handoff/redis';
import { REDIS_URL } from '../../helpers/services';

interface Harness {
  name: string;
  /** Two clients of one store (a live SDK and a dry-run SDK in two processes). */
  open(ttlMs: number): Promise<{ writer: Handoff; reader: Handoff; close(): Promise<void> }>;
}

const oid = (n: number) => ({ $oid: n.toString(16).padStart(24, '0') });
let seq = 0;
const ids = () => ({ run: `run-${process.pid}-${Date.now().toString(36)}`, shadow: `s-${(seq += 1)}` });

function handoffContract(h: Harness): void {
  describe(`handoff contract: ${h.name}`, () => {
    let c: Awaited<ReturnType<Harness['open']>>;
    beforeEach(async () => {
      c = await h.open(1_500);
    });
    afterEach(async () => c.close());

    it('answers an empty handoff for a request nothing was handed off for', async () => {
      const { run, shadow } = ids();
      expect(await c.reader.get(run, shadow)).toEqual({ images: [], upserts: [] });
    });

    it('makes an acknowledged put visible to the next read of another client (linearizable)', async () => {
      const { run, shadow } = ids();
      for (let i = 0; i < 20; i++) {
        await c.writer.put(run, shadow, { images: [{ ns: 'shop.orders', id: oid(i), before: { _id: oid(i), n: i } }] });
        const snap = await c.reader.get(run, shadow);
        expect(snap.images).toHaveLength(i + 1);
      }
    });

    it('keeps the first image of a document and tells namespaces and requests apart', async () => {
      const { run, shadow } = ids();
      await c.writer.put(run, shadow, { images: [{ ns: 'shop.orders', id: oid(1), before: { _id: oid(1), v: 'first' } }] });
      await c.writer.put(run, shadow, { images: [{ ns: 'shop.orders', id: oid(1), before: { _id: oid(1), v: 'second' } }, { ns: 'shop.payments', id: oid(1), before: null }] });
      await c.writer.put(run, `${shadow}-other`, { images: [{ ns: 'shop.orders', id: oid(9), before: null }] });
      const snap = await c.reader.get(run, shadow);
      expect(snap.images).toEqual(expect.arrayContaining([{ ns: 'shop.orders', id: oid(1), before: { _id: oid(1), v: 'first' } }, { ns: 'shop.payments', id: oid(1), before: null }]));
      expect(snap.images).toHaveLength(2);
    });

    it('announces an upsert as pending and resolves it; a late pending never undoes a resolution', async () => {
      const { run, shadow } = ids();
      await c.writer.put(run, shadow, { upserts: [{ token: 'u1', ns: 'shop.carts' }] });
      expect((await c.reader.get(run, shadow)).upserts).toEqual([{ token: 'u1', ns: 'shop.carts' }]);
      await c.writer.put(run, shadow, { upserts: [{ token: 'u1', ns: 'shop.carts', ids: [oid(5)] }], images: [{ ns: 'shop.carts', id: oid(5), before: null }] });
      await c.writer.put(run, shadow, { upserts: [{ token: 'u1', ns: 'shop.carts' }] });
      const snap = await c.reader.get(run, shadow);
      expect(snap.upserts).toEqual([{ token: 'u1', ns: 'shop.carts', ids: [oid(5)] }]);
      expect(snap.images).toEqual([{ ns: 'shop.carts', id: oid(5), before: null }]);
    });

    it('keeps typed values as they were handed off', async () => {
      const { run, shadow } = ids();
      const before = { _id: oid(2), at: { $date: '2026-12-01T00:00:00.000Z' }, n: { $numberLong: '9007199254740993' }, d: { $numberDecimal: '1.10' }, nested: { a: [1, 'x', null] } };
      await c.writer.put(run, shadow, { images: [{ ns: 'db.c', id: oid(2), before }] });
      expect((await c.reader.get(run, shadow)).images[0]!.before).toEqual(before);
    });

    it('forgets a request once its time to live passed since the last put', async () => {
      const { run, shadow } = ids();
      await c.writer.put(run, shadow, { images: [{ ns: 'db.c', id: 1, before: null }] });
      await new Promise((r) => setTimeout(r, 1_000));
      await c.writer.put(run, shadow, { images: [{ ns: 'db.c', id: 2, before: null }] });
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await c.reader.get(run, shadow)).images).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 1_700));
      expect(await c.reader.get(run, shadow)).toEqual({ images: [], upserts: [] });
    });
  });
}

/** A writer and a reader of one store, as a live and a dry-run SDK in two processes would be. */
function twoClients<T extends Handoff>(make: () => T, after: () => Promise<unknown> = async () => undefined) {
  const writer = make();
  const reader = make();
  return {
    writer,
    reader,
    async close() {
      await writer.close();
      await reader.close();
      await after();
    },
  };
}

handoffContract({
  name: 'embedded',
  async open(ttlMs) {
    const store = new MemoryHandoff({ ttlMs });
    return { writer: store, reader: store, close: () => store.close() };
  },
});

handoffContract({
  name: 'hosted (HTTP)',
  async open(ttlMs) {
    const hosted = await listenHandoff({ host: '127.0.0.1', port: 0, token: 'test-token', ttlMs });
    return twoClients(() => new HttpHandoff({ url: hosted.url, token: 'test-token' }), () => hosted.close());
  },
});

handoffContract({
  name: 'Redis',
  async open(ttlMs) {
    const prefix = `sdtest-${process.pid}`;
    const clients = twoClients(() => new RedisHandoff({ url: REDIS_URL, ttlMs, prefix }));
    await clients.writer.ready();
    await clients.reader.ready();
    return clients;
  },
});

describe('hosted handoff: refuses what it should', () => {
  it('answers 401 without the token, 400 for a body that is no put, 404 for another path', async () => {
    const hosted = await listenHandoff({ host: '127.0.0.1', port: 0, token: 'sekret' });
    try {
      const noToken = await fetch(`${hosted.url}/v1/handoff/r/s`);
      expect(noToken.status).toBe(401);
      expect(await noToken.text()).not.toContain('sekret');
      const auth = { authorization: 'Bearer sekret', 'content-type': 'application/json' };
      const bad = await fetch(`${hosted.url}/v1/handoff/r/s`, { method: 'PUT', headers: auth, body: '{"images":[{"ns":1}]}' });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({ error: expect.stringContaining('not a handoff put') });
      expect((await fetch(`${hosted.url}/other`, { headers: auth })).status).toBe(404);
      expect(hosted.stats.refused).toBe(1);
    } finally {
      await hosted.close();
    }
  });

  it('a client pointed at a listener that is not there fails its call, never hangs', async () => {
    const c = new HttpHandoff({ url: 'http://127.0.0.1:9', timeoutMs: 500 });
    await expect(c.get('r', 's')).rejects.toThrow();
    await c.close();
  });
});
