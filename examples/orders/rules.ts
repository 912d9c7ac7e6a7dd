// The comparison rules for the example order services: how the rewrite's schema maps back to
// legacy's, and what is noise. Load it like any rules module: `shadowdiff worker --rules
// dist/examples/orders/rules.js` (it exports `rules`, for the shop database named in SHOP_DB).
// The consumers (consumers.ts) come with them: who reads each target and field.
import type { RulesInput } from '../../compare/engine';
import { consumersFor } from './consumers';

type Doc = Record<string, unknown>;

const STATUS: Record<string, string> = { CREATED: 'created', PAID: 'paid', PREPARING: 'preparing', PARTIALLY_CANCELLED: 'partially-cancelled', CANCELLED: 'cancelled' };

/** The candidate's v2 order document as legacy's flat v1 one; a v1 document (read from legacy's data, not yet migrated) as it is. */
export function orderV2toV1(value: unknown): unknown {
  const d = value as Doc | null;
  if (!d || d.schemaVersion !== 2) return value;
  const amounts = d.amounts as Doc;
  const delivery = d.delivery as Doc;
  const out: Doc = {
    _id: d._id,
    orderNo: d.orderNo,
    customerId: (d.buyer as Doc).customerId,
    status: STATUS[d.state as string] ?? d.state,
    items: (d.lines as Doc[]).map((l) => ({ sku: l.sku, name: l.title, unitPrice: l.price, qty: l.quantity, cancelledQty: l.cancelled })),
    subtotal: amounts.subtotal,
    couponCode: d.coupon,
    couponDiscount: amounts.couponDiscount,
    pointsUsed: amounts.points,
    shippingFee: amounts.shipping,
    total: amounts.total,
    refundedAmount: amounts.refunded,
    // Schema `both` (a cutover) keeps legacy's shape here.
    delivery: { option: delivery.type ?? delivery.option, fee: delivery.fee, ...(delivery.guaranteedBy === undefined ? {} : { guaranteedBy: delivery.guaranteedBy }) },
    address: d.shipTo,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
  if (d.paidAt !== undefined) out.paidAt = d.paidAt;
  return out;
}

/** The v2 fields the candidate keeps beside legacy's during a cutover (schema `both`). */
const V2_ONLY = ['schemaVersion', 'buyer', 'state', 'lines', 'amounts', 'coupon', 'shipTo'];

/**
 * Legacy's order as legacy sees it: during a cutover a document the candidate wrote carries its
 * v2 fields too (schema `both`), which legacy neither reads nor keeps current.
 */
export function orderV1View(value: unknown): unknown {
  const d = value as Doc | null;
  if (!d || d.status === undefined || d.schemaVersion !== 2) return value;
  return Object.fromEntries(Object.entries(d).filter(([k]) => !V2_ONLY.includes(k)));
}

/** Where a field of legacy's order lives in the rewrite's schema (for corrections). */
const V2_PATH: Record<string, string> = {
  subtotal: 'amounts.subtotal',
  couponDiscount: 'amounts.couponDiscount',
  pointsUsed: 'amounts.points',
  shippingFee: 'amounts.shipping',
  total: 'amounts.total',
  refundedAmount: 'amounts.refunded',
  couponCode: 'coupon',
  customerId: 'buyer.customerId',
};

interface OrderCorrection {
  action: string;
  target: string;
  key?: { _id?: unknown };
  changes: { path: string; live?: unknown; reference?: unknown }[];
  update?: { database: string; collection: string; filter: Doc; update: { $set?: Doc; $unset?: Doc } };
}

/**
 * The rules' `correct` hook (shadowdiff corrections, docs/cutover.md): an order correction in
 * legacy's fields is made in the rewrite's too, so the document stays one order in both
 * schemas; a correction on a field with no place in v2 it cannot make (null: manual).
 */
export function correctOrder(c: OrderCorrection): OrderCorrection | null {
  if (!/\.orders$/.test(c.target) || c.action === 'event') return c;
  const [database, ...rest] = c.target.split('.');
  const update = c.update ?? { database: database!, collection: rest.join('.'), filter: { _id: c.key?._id }, update: {} };
  const filter: Doc = { ...update.filter };
  const $set: Doc = { ...(update.update.$set ?? {}) };
  for (const ch of c.changes) {
    const v2 = V2_PATH[ch.path];
    // A v1-only document (not written by the candidate) needs no v2 field; one without a place in v2 is a person's.
    if (!v2) {
      if (c.update) continue;
      return null;
    }
    filter[v2] = ch.live === undefined ? { $exists: false } : ch.live;
    if (ch.reference !== undefined) $set[v2] = ch.reference;
  }
  return { ...c, action: 'update', update: { ...update, filter, update: { ...update.update, $set } } };
}

/** The candidate's payment transaction as legacy's payment document. */
export function paymentToLegacy(value: unknown): unknown {
  const d = value as Doc | null;
  if (!d || d.order === undefined) return value;
  return { _id: d._id, orderNo: d.order, kind: String(d.type).toLowerCase(), amount: d.amount, method: d.method, approvalNo: (d.pg as Doc | undefined)?.approvalNo ?? null, createdAt: d.createdAt };
}

/** The rules for the shop database named `db` (`shop` in the demo's memory and in docker compose). */
export function rulesFor(db: string): RulesInput {
  return {
    version: 1,
    // When each side wrote: never the same millisecond.
    ignore: ['**.createdAt', '**.updatedAt', '**.paidAt'],
    targets: [
      { match: `${db}.orders`, kind: 'db', key: 'orderNo', unordered: [{ path: 'items', by: 'sku' }], canonicalize: { candidate: orderV2toV1, legacy: orderV1View } },
      // The PG's approval number: a dry-run cannot know it.
      { match: `${db}.payments`, kind: 'db', candidateTarget: `${db}.payment_transactions`, ignore: ['approvalNo'], canonicalize: { candidate: paymentToLegacy } },
      // Events: a generated id and a timestamp each, lines in whatever order the service keeps them.
      { match: 'demo.orders/*', kind: 'message', ignore: ['eventId', 'occurredAt'], unordered: [{ path: 'lines', by: 'sku' }] },
      { match: 'response', kind: 'response', unordered: [{ path: 'body.items', by: 'sku' }] },
    ],
    consumers: consumersFor(db),
    correct: correctOrder as never,
  };
}

/** As a rules module (`--rules dist/examples/orders/rules.js`): for the database in SHOP_DB, default `shop`. */
export const rules = rulesFor(process.env.SHOP_DB || 'shop');

export default rules;
