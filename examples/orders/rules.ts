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
    delivery: { option: delivery.type, fee: delivery.fee, ...(delivery.guaranteedBy === undefined ? {} : { guaranteedBy: delivery.guaranteedBy }) },
    address: d.shipTo,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
  if (d.paidAt !== undefined) out.paidAt = d.paidAt;
  return out;
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
      { match: `${db}.orders`, kind: 'db', key: 'orderNo', unordered: [{ path: 'items', by: 'sku' }], canonicalize: { candidate: orderV2toV1 } },
      // The PG's approval number: a dry-run cannot know it.
      { match: `${db}.payments`, kind: 'db', candidateTarget: `${db}.payment_transactions`, ignore: ['approvalNo'], canonicalize: { candidate: paymentToLegacy } },
      // Events: a generated id and a timestamp each, lines in whatever order the service keeps them.
      { match: 'demo.orders/*', kind: 'message', ignore: ['eventId', 'occurredAt'], unordered: [{ path: 'lines', by: 'sku' }] },
      { match: 'response', kind: 'response', unordered: [{ path: 'body.items', by: 'sku' }] },
    ],
    consumers: consumersFor(db),
  };
}

/** As a rules module (`--rules dist/examples/orders/rules.js`): for the database in SHOP_DB, default `shop`. */
export const rules = rulesFor(process.env.SHOP_DB || 'shop');

export default rules;
