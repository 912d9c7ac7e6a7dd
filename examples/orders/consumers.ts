// Who reads the example shop's data: the teams downstream of the order system, as a real
// platform would list them before a cutover (docs/consumers.md). The demo's summary names, for
// each seeded bug, the teams it hurts.
import type { ConsumerInput } from '../../compare/engine';

/** The consumers of the shop database named `db` and of the order events. */
export function consumersFor(db: string): ConsumerInput[] {
  return [
    {
      name: 'delivery-guarantee',
      owner: 'delivery team',
      contact: '#delivery-guarantee',
      reads: [{ target: `${db}.orders`, kind: 'db', paths: ['delivery.*'] }],
    },
    {
      name: 'settlement',
      owner: 'finance: settlement',
      contact: 'settlement@shop.example',
      reads: [
        {
          target: 'demo.orders/order.cancelled',
          kind: 'message',
          paths: ['orderNo', 'refundAmount'],
          // What settlement's consumer parses: a missing or negative refund breaks the day's books.
          schema: { type: 'object', required: ['orderNo', 'refundAmount'], properties: { orderNo: { type: 'string', minLength: 1 }, refundAmount: { type: 'integer', minimum: 0 } } },
        },
        { target: 'demo.orders/order.paid', kind: 'message' },
        // The day's reconciliation: what each order charged and gave back.
        { target: `${db}.orders`, kind: 'db', paths: ['total', 'couponDiscount', 'refundedAmount'] },
      ],
    },
    {
      name: 'points',
      owner: 'loyalty team',
      contact: '#points-oncall',
      // Points are money: a wrong balance is paid out.
      critical: true,
      reads: [{ target: `${db}.orders`, kind: 'db', paths: ['pointsUsed'] }],
    },
    {
      name: 'grocery-partner',
      owner: 'partner integrations',
      contact: 'grocery-partner@partners.example',
      reads: [
        { target: `${db}.orders`, kind: 'db', paths: ['items[*].sku', 'items[*].qty', 'items[*].cancelledQty'] },
        { target: 'demo.orders/order.created', kind: 'message', paths: ['lines'] },
      ],
    },
  ];
}
