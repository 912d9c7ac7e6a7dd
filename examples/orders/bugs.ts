// The silent bugs seeded into the candidate (candidate.ts, "SEEDED BUG"), as the comparison should
// report them: the route, the target and the field path of the finding that exposes each. The
// demo's summary names the findings it sees with these; the tests assert each is found.
export interface SeededBug {
  id: string;
  title: string;
  route: string;
  target: string;
  field: string;
  /** The declared consumers (consumers.ts) that read the field: whom the bug hurts. */
  hurts: string[];
}

export const SEEDED_BUGS: readonly SeededBug[] = [
  { id: 'coupon-rounding', title: 'percentage coupons rounded half up instead of down', route: 'POST /orders', target: 'shop.orders', field: 'couponDiscount', hurts: ['settlement'] },
  { id: 'guarantee-dropped', title: 'the delivery-guarantee date is not stored for guaranteed delivery', route: 'POST /orders', target: 'shop.orders', field: 'delivery.guaranteedBy', hurts: ['delivery-guarantee'] },
  { id: 'status-too-early', title: 'express orders are stored as "preparing" when paid, one step early', route: 'POST /orders/:orderNo/pay', target: 'shop.orders', field: 'status', hurts: [] },
  { id: 'cancel-event-amount', title: 'order.cancelled carries the lines\' price, not the refund, when a coupon applied', route: 'POST /orders/:orderNo/cancel', target: 'demo.orders/order.cancelled', field: 'refundAmount', hurts: ['settlement'] },
];

/** The bug as found in a shop database named `db` (the list names it `shop`). */
export function inDatabase(bug: SeededBug, db: string): SeededBug {
  return { ...bug, target: bug.target.replace(/^shop\./, `${db}.`) };
}

/** Routes where the candidate has no bug: they should be reported ready. */
export const CLEAN_ROUTES: readonly string[] = ['GET /orders/:orderNo', 'POST /orders/:orderNo/address'];
