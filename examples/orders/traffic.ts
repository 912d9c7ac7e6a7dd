// The traffic generator: customers going through the order journey — create an order sheet
// from a cart, maybe change the address, pay, maybe cancel part of it, look at it — against the
// proxy in front of legacy. Seeded, so a run with the same seed sends the same requests. Each
// concurrent journey has customers of its own: two requests of one customer are never in flight
// together, as in a shop where one person checks out at a time.
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { COUPONS, CUSTOMERS, DELIVERY_OPTIONS, PRODUCTS } from './catalog';

export interface TrafficOptions {
  /** The proxy (or a service) to send to. */
  baseUrl: string;
  /** Requests to send in all; journeys stop when it is reached. */
  requests: number;
  /** Journeys in flight at once (at most the number of customers, 64). */
  concurrency?: number;
  seed?: number;
  /** Tells order numbers of this run from those of earlier runs on the same database. */
  tag?: string;
  onRequest?: (sent: number) => void;
  /** Each answer's status and how long it took (ms); `status` 0 when none came. */
  onResponse?: (status: number, ms: number) => void;
  signal?: AbortSignal;
}

export interface TrafficSummary {
  sent: number;
  /** Answers by status code; `error` for requests that got none. */
  statuses: Record<string, number>;
  ms: number;
}

/** mulberry32: a small seeded generator, so runs are repeatable. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export async function driveTraffic(o: TrafficOptions): Promise<TrafficSummary> {
  const concurrency = Math.max(1, Math.min(o.concurrency ?? 8, CUSTOMERS.length));
  const tag = o.tag ?? Date.now().toString(36);
  // Each request in flight listens for the abort.
  if (o.signal) setMaxListeners(concurrency + 10, o.signal);
  const dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const statuses: Record<string, number> = {};
  const started = Date.now();
  let sent = 0;

  const send = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown } | undefined> => {
    if (sent >= o.requests || o.signal?.aborted) return undefined;
    sent += 1;
    o.onRequest?.(sent);
    const started = performance.now();
    try {
      const res = await request(new URL(path, o.baseUrl), {
        method,
        dispatcher,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      const text = await res.body.text();
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      o.onResponse?.(res.statusCode, performance.now() - started);
      return { status: res.statusCode, json: text ? (JSON.parse(text) as unknown) : undefined };
    } catch {
      statuses.error = (statuses.error ?? 0) + 1;
      o.onResponse?.(0, performance.now() - started);
      return undefined;
    }
  };

  const journeys = async (lane: number) => {
    const rnd = random((o.seed ?? 1) * 1_000 + lane);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const customers = CUSTOMERS.filter((_, i) => i % concurrency === lane);
    for (let n = 0; sent < o.requests && !o.signal?.aborted; n += 1) {
      const customer = customers[n % customers.length]!;
      const pool = [...PRODUCTS];
      for (let i = pool.length - 1; i > 0; i -= 1) {
        const j = Math.floor(rnd() * (i + 1));
        [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      }
      const skus = pool.slice(0, 1 + Math.floor(rnd() * 3));
      const items = skus.map((p) => ({ sku: p._id, qty: 1 + Math.floor(rnd() * 3) }));
      const r = rnd();
      const delivery = r < 0.55 ? DELIVERY_OPTIONS[0] : r < 0.8 ? DELIVERY_OPTIONS[1] : DELIVERY_OPTIONS[2];
      const order = {
        checkoutId: `${tag}-${lane.toString(36)}-${n.toString(36)}`,
        customerId: customer._id,
        items,
        delivery,
        address: { zip: String(10_000 + Math.floor(rnd() * 89_999)), line1: `${1 + Math.floor(rnd() * 200)} Demo-ro` },
        ...(rnd() < 0.5 ? { couponCode: pick(COUPONS)._id } : {}),
        ...(rnd() < 0.3 ? { usePoints: 100 * (1 + Math.floor(rnd() * 30)) } : {}),
      };
      const created = await send('POST', '/orders', order);
      if (created?.status !== 201) continue;
      const orderNo = (created.json as { orderNo: string }).orderNo;
      const at = `/orders/${encodeURIComponent(orderNo)}`;
      if (rnd() < 0.25) await send('POST', `${at}/address`, { zip: String(10_000 + Math.floor(rnd() * 89_999)), line1: `${1 + Math.floor(rnd() * 200)} Changed-gil` });
      if (rnd() < 0.85) {
        const paid = await send('POST', `${at}/pay`, { method: pick(['card', 'bank-transfer', 'points-wallet']) });
        if (paid?.status === 200 && rnd() < 0.45) await send('POST', `${at}/cancel`, { items: [{ sku: pick(items).sku, qty: 1 }] });
      }
      if (rnd() < 0.5) await send('GET', at);
    }
  };

  try {
    await Promise.all(Array.from({ length: concurrency }, (_, lane) => journeys(lane)));
  } finally {
    await dispatcher.close();
  }
  return { sent, statuses, ms: Date.now() - started };
}
