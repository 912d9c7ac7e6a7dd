// Synthetic traffic for pipeline tests: for each request, both sides' records (an order insert,
// an event, the end marker), with a known set of requests where the candidate's total differs.
import type { SideRecord } from '../../core/effect';
import { reverseDelta } from '../../core/undo';

export interface Traffic {
  records: SideRecord[];
  /** Ground truth: shadow id → expected verdict. */
  truth: Map<string, 'match' | 'mismatch' | 'incomplete'>;
}

export interface TrafficOptions {
  runId: string;
  requests: number;
  /** Every n-th request mismatches (0: none). */
  mismatchEvery?: number;
  /** Every n-th request lacks the candidate's end marker (0: none). */
  incompleteEvery?: number;
  routes?: string[];
  /** Shadow id prefix, so runs can share a bus without sharing ids. */
  prefix?: string;
  /** Also publish an event per side (default true). */
  messages?: boolean;
  /** Also an update of the order per side, with its before- and after-images (default false). */
  updates?: boolean;
  /** The effect format written (default 1): 2 ships the update's before-image as its undo. */
  format?: 1 | 2;
}

export function traffic(o: TrafficOptions): Traffic {
  const records: SideRecord[] = [];
  const truth = new Map<string, 'match' | 'mismatch' | 'incomplete'>();
  const routes = o.routes ?? ['/orders', '/orders/:id/pay'];
  const at = '2026-11-24T10:00:00.000Z';
  for (let i = 0; i < o.requests; i++) {
    const shadowId = `${o.prefix ?? 'req'}-${String(i).padStart(7, '0')}`;
    const mismatch = o.mismatchEvery ? i % o.mismatchEvery === 0 : false;
    const incomplete = o.incompleteEvery ? i % o.incompleteEvery === 1 : false;
    const route = routes[i % routes.length]!;
    truth.set(shadowId, incomplete ? 'incomplete' : mismatch ? 'mismatch' : 'match');
    for (const side of ['legacy', 'candidate'] as const) {
      const base = { v: o.format ?? 1, runId: o.runId, shadowId, side, at };
      const total = 10_000 + i + (side === 'candidate' && mismatch ? 1 : 0);
      const created: { orderNo: string; total: number; items: { sku: string; qty: number }[]; status?: string } = { orderNo: `A-${i}`, total, items: [{ sku: 'x', qty: 1 + (i % 3) }] };
      if (o.updates) Object.assign(created, { status: 'NEW', items: [...created.items, { sku: 'y', qty: 1 }] });
      records.push({ ...base, type: 'effect', seq: 0, kind: 'db', target: 'shop.orders', op: 'insert', key: { orderNo: `A-${i}` }, before: null, after: created });
      let seq = 1;
      if (o.updates) {
        const paid = { ...created, status: 'PAID', paidAt: at, items: [created.items[0]!, { sku: 'y', qty: side === 'candidate' && mismatch ? 3 : 2 }] };
        const images = o.format === 2 ? { after: paid, undo: reverseDelta(created, paid)! } : { before: created, after: paid };
        records.push({ ...base, type: 'effect', seq: seq++, kind: 'db', target: 'shop.orders', op: 'update', key: { orderNo: `A-${i}` }, ...images });
      }
      const withMessage = o.messages ?? true;
      if (withMessage) records.push({ ...base, type: 'effect', seq: seq++, kind: 'message', target: 'orders/order.created', op: 'publish', payload: { orderNo: `A-${i}`, total } });
      if (!(side === 'candidate' && incomplete)) {
        records.push({ ...base, type: 'end', count: seq, request: { method: 'POST', path: route.replace(':id', String(i)), route }, status: 201 });
      }
    }
  }
  return { records, truth };
}

/** Interleaves the records of nearby requests, as concurrent services publish them. */
export function shuffleNearby<T>(items: T[], span = 50, seed = 7): T[] {
  const out = [...items];
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < out.length; i++) {
    const j = Math.min(out.length - 1, i + Math.floor(rand() * span));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
