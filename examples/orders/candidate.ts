// The candidate: a rewrite of the order service. A domain model (OrderSheet), a pricing
// pipeline, a repository that reads the legacy documents and writes its own schema (v2: nested
// amounts, `lines`, an upper-case `state`; payments in `shop.payment_transactions`), and the same
// API and domain events as legacy — the contract its consumers rely on. The rules in rules.ts map
// its schema back to legacy's for the comparison.
//
// It carries four silent bugs, seeded for the demo (see bugs.ts): they raise no error and the
// API answers look right. Each is marked SEEDED BUG below.
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Collection, Db } from 'mongodb';
import { daysFromNow, EVENTS_EXCHANGE, type ServiceDeps } from './legacy';
import { SEEDED_BUGS } from './bugs';
import { DRY_RUN_ANSWERS } from './partners';

const ALL_BUGS: ReadonlySet<string> = new Set(SEEDED_BUGS.map((b) => b.id));

type State = 'CREATED' | 'PAID' | 'PREPARING' | 'PARTIALLY_CANCELLED' | 'CANCELLED';

interface Line {
  sku: string;
  title: string;
  price: number;
  quantity: number;
  cancelled: number;
}

interface Amounts {
  subtotal: number;
  couponDiscount: number;
  points: number;
  shipping: number;
  total: number;
  refunded: number;
}

/** The rewrite's order, whatever schema it was stored in. */
class OrderSheet {
  constructor(
    readonly id: unknown,
    readonly orderNo: string,
    readonly customerId: string,
    public state: State,
    readonly lines: Line[],
    readonly amounts: Amounts,
    readonly coupon: string | null,
    readonly delivery: { type: string; fee: number; guaranteedBy?: string },
    public shipTo: { zip: string; line1: string },
    readonly createdAt: Date,
    public updatedAt: Date,
    public paidAt?: Date,
  ) {}

  cancel(requested: { sku: string; qty: number }[]): number {
    let amount = 0;
    for (const r of requested) {
      const line = this.lines.find((l) => l.sku === r.sku);
      if (!line || !Number.isInteger(r.qty) || r.qty < 1 || line.cancelled + r.qty > line.quantity) throw new HttpError(422, `cannot cancel ${String(r.qty)} of ${String(r.sku)}`);
      line.cancelled += r.qty;
      amount += line.price * r.qty;
    }
    this.state = this.lines.every((l) => l.cancelled === l.quantity) ? 'CANCELLED' : 'PARTIALLY_CANCELLED';
    return amount;
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads legacy (v1) and v2 documents. Writes v2, migrating a legacy document on its first write;
 * or, with schema `both` (the expand step of an expand/contract migration, while a cutover ramps),
 * writes the v2 fields and legacy's v1 ones side by side and reads the v1 ones first: legacy may
 * have written them since, and it reads nothing else.
 */
class OrderSheets {
  private readonly orders: Collection;

  constructor(
    db: Db,
    private readonly schema: 'v2' | 'both',
  ) {
    this.orders = db.collection('orders');
  }

  async byOrderNo(orderNo: string): Promise<OrderSheet | null> {
    const d = await this.orders.findOne({ orderNo });
    if (!d) return null;
    if (this.schema === 'both' && d.status !== undefined) return fromV1(d);
    return d.schemaVersion === 2 ? fromV2(d) : fromV1(d);
  }

  async add(sheet: OrderSheet): Promise<void> {
    await this.orders.insertOne(this.schema === 'both' ? { ...toV2(sheet), ...toV1(sheet) } : toV2(sheet));
  }

  async save(sheet: OrderSheet): Promise<void> {
    const { _id, ...v2 } = toV2(sheet);
    if (this.schema === 'both') {
      const { _id: _same, createdAt: _c, updatedAt: _u, orderNo: _o, ...v1 } = toV1(sheet);
      await this.orders.updateOne({ _id: _id as never }, { $set: { ...v2, ...v1 } });
      return;
    }
    const legacyOnly = Object.fromEntries(['customerId', 'status', 'items', 'subtotal', 'couponCode', 'couponDiscount', 'pointsUsed', 'shippingFee', 'total', 'refundedAmount', 'address'].map((k) => [k, '']));
    await this.orders.updateOne({ _id: _id as never }, { $set: v2, $unset: legacyOnly });
  }
}

const V1_STATUS: Record<State, string> = { CREATED: 'created', PAID: 'paid', PREPARING: 'preparing', PARTIALLY_CANCELLED: 'partially-cancelled', CANCELLED: 'cancelled' };

/** The order in legacy's v1 fields (schema `both`): what legacy reads. */
function toV1(s: OrderSheet): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    ...(s.id === undefined ? {} : { _id: s.id }),
    orderNo: s.orderNo,
    customerId: s.customerId,
    status: V1_STATUS[s.state],
    items: s.lines.map((l) => ({ sku: l.sku, name: l.title, unitPrice: l.price, qty: l.quantity, cancelledQty: l.cancelled })),
    subtotal: s.amounts.subtotal,
    couponCode: s.coupon,
    couponDiscount: s.amounts.couponDiscount,
    pointsUsed: s.amounts.points,
    shippingFee: s.amounts.shipping,
    total: s.amounts.total,
    refundedAmount: s.amounts.refunded,
    address: s.shipTo,
    // The one key both schemas use: in legacy's shape, which its API shows as it is (v2 readers take `option` for `type`).
    delivery: { option: s.delivery.type, fee: s.delivery.fee, ...(s.delivery.guaranteedBy ? { guaranteedBy: s.delivery.guaranteedBy } : {}) },
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
  if (s.paidAt) doc.paidAt = s.paidAt;
  return doc;
}

function toV2(s: OrderSheet): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    ...(s.id === undefined ? {} : { _id: s.id }),
    schemaVersion: 2,
    orderNo: s.orderNo,
    buyer: { customerId: s.customerId },
    state: s.state,
    lines: s.lines,
    amounts: s.amounts,
    coupon: s.coupon,
    delivery: s.delivery,
    shipTo: s.shipTo,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
  if (s.paidAt) doc.paidAt = s.paidAt;
  return doc;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function fromV2(d: any): OrderSheet {
  const delivery = { type: d.delivery.type ?? d.delivery.option, fee: d.delivery.fee, ...(d.delivery.guaranteedBy ? { guaranteedBy: d.delivery.guaranteedBy } : {}) };
  return new OrderSheet(d._id, d.orderNo, d.buyer.customerId, d.state, d.lines, d.amounts, d.coupon, delivery, d.shipTo, d.createdAt, d.updatedAt, d.paidAt);
}

const V1_STATES: Record<string, State> = { created: 'CREATED', paid: 'PAID', preparing: 'PREPARING', 'partially-cancelled': 'PARTIALLY_CANCELLED', cancelled: 'CANCELLED' };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function fromV1(d: any): OrderSheet {
  const lines = (d.items as { sku: string; name: string; unitPrice: number; qty: number; cancelledQty: number }[])
    .map((i) => ({ sku: i.sku, title: i.name, price: i.unitPrice, quantity: i.qty, cancelled: i.cancelledQty }))
    .sort((a, b) => a.sku.localeCompare(b.sku));
  const amounts = { subtotal: d.subtotal, couponDiscount: d.couponDiscount, points: d.pointsUsed, shipping: d.shippingFee, total: d.total, refunded: d.refundedAmount };
  const delivery = { type: d.delivery.option, fee: d.delivery.fee, ...(d.delivery.guaranteedBy ? { guaranteedBy: d.delivery.guaranteedBy } : {}) };
  return new OrderSheet(d._id, d.orderNo, d.customerId, V1_STATES[d.status] ?? 'CREATED', lines, amounts, d.couponCode, delivery, d.address, d.createdAt, d.updatedAt, d.paidAt);
}

/** The pricing pipeline: each step sees what the ones before it decided. */
interface PriceContext {
  lines: Line[];
  coupon: { type: string; value: number } | null;
  pointsBalance: number;
  pointsRequested: number;
  deliveryType: string;
  amounts: Amounts;
  bugs: ReadonlySet<string>;
}

const DELIVERY_FEES: Record<string, number> = { express: 2_500, guaranteed: 1_500 };

const PRICING: ((c: PriceContext) => void)[] = [
  (c) => {
    c.amounts.subtotal = c.lines.reduce((sum, l) => sum + l.price * l.quantity, 0);
  },
  (c) => {
    if (!c.coupon) return;
    const rate = c.coupon.value / 100;
    // SEEDED BUG 1: rounds the percentage discount half up; legacy rounds down.
    const round = c.bugs.has('coupon-rounding') ? Math.round : Math.floor;
    c.amounts.couponDiscount = c.coupon.type === 'percent' ? round(c.amounts.subtotal * rate) : Math.min(c.coupon.value, c.amounts.subtotal);
  },
  (c) => {
    c.amounts.points = Math.min(c.pointsRequested, c.pointsBalance, c.amounts.subtotal - c.amounts.couponDiscount);
  },
  (c) => {
    const base = c.amounts.subtotal - c.amounts.couponDiscount >= 50_000 ? 0 : 3_000;
    c.amounts.shipping = base + (DELIVERY_FEES[c.deliveryType] ?? 0);
  },
  (c) => {
    c.amounts.total = c.amounts.subtotal - c.amounts.couponDiscount - c.amounts.points + c.amounts.shipping;
  },
];

export function candidateApp(deps: ServiceDeps): express.Express {
  const { shadow, db, events, partners } = deps;
  const bugs = deps.bugs ?? ALL_BUGS;
  const sheets = new OrderSheets(db, deps.schema ?? 'v2');
  const emit = (type: string, data: Record<string, unknown>) =>
    events.publish(EVENTS_EXCHANGE, type, Buffer.from(JSON.stringify({ eventId: randomUUID(), type, ...data, occurredAt: new Date().toISOString() })), { contentType: 'application/json', persistent: true });
  const partner = <T>(target: string, payload: unknown, perform: () => Promise<T>, dryRun: T) => shadow.effect({ kind: 'http', target, payload }, perform, dryRun);

  const app = express();
  app.get('/health', (_req, res) => void res.json({ status: 'ok' }));
  app.use(express.json());
  app.use(shadow.middleware());

  app.post('/orders', async (req, res) => {
    const b = req.body as { checkoutId?: unknown; customerId?: unknown; items?: { sku?: unknown; qty?: unknown }[]; couponCode?: unknown; usePoints?: unknown; delivery?: unknown; address?: { zip?: unknown; line1?: unknown } };
    const checkoutId = text(b.checkoutId, 'checkoutId');
    const customerId = text(b.customerId, 'customerId');
    if (!Array.isArray(b.items) || b.items.length === 0) throw new HttpError(400, 'items: at least one item');
    const deliveryType = text(b.delivery, 'delivery');
    if (!['standard', 'express', 'guaranteed'].includes(deliveryType)) throw new HttpError(400, 'delivery: standard, express or guaranteed');
    const orderNo = `ORD-${checkoutId}`;
    if (await sheets.byOrderNo(orderNo)) throw new HttpError(409, `order ${orderNo} exists`);

    const skus = b.items.map((i) => text(i.sku, 'items[].sku'));
    const [products, coupon, customer] = await Promise.all([
      db.collection<{ _id: string; name: string; price: number }>('products').find({ _id: { $in: skus } }).toArray(),
      typeof b.couponCode === 'string' ? db.collection<{ _id: string; type: string; value: number }>('coupons').findOne({ _id: b.couponCode }) : null,
      db.collection<{ _id: string; points: number }>('customers').findOne({ _id: customerId }),
    ]);
    const lines: Line[] = b.items.map((i) => {
      const p = products.find((x) => x._id === i.sku);
      if (!p) throw new HttpError(422, `unknown product ${String(i.sku)}`);
      const quantity = Number(i.qty);
      if (!Number.isInteger(quantity) || quantity < 1) throw new HttpError(400, 'items[].qty: a positive integer');
      return { sku: p._id, title: p.name, price: p.price, quantity, cancelled: 0 };
    });
    lines.sort((x, y) => x.sku.localeCompare(y.sku));
    if (typeof b.couponCode === 'string' && !coupon) throw new HttpError(422, `unknown coupon ${b.couponCode}`);
    if (!customer) throw new HttpError(422, `unknown customer ${customerId}`);

    const ctx: PriceContext = { lines, coupon, pointsBalance: customer.points, pointsRequested: Number(b.usePoints ?? 0) || 0, deliveryType, amounts: { subtotal: 0, couponDiscount: 0, points: 0, shipping: 0, total: 0, refunded: 0 }, bugs };
    for (const step of PRICING) step(ctx);

    // SEEDED BUG 2: the delivery-guarantee date is computed for the response but never stored.
    const promised = deliveryType === 'guaranteed' ? daysFromNow(2) : undefined;
    const delivery = { type: deliveryType, fee: ctx.amounts.shipping, ...(promised && !bugs.has('guarantee-dropped') ? { guaranteedBy: promised } : {}) };

    await partner('POST inventory.example/v1/reservations', { orderNo, lines: b.items.map((i) => ({ sku: i.sku, qty: Number(i.qty) })) }, () => partners.reserve(orderNo, []), DRY_RUN_ANSWERS.reserve);
    const now = new Date();
    const sheet = new OrderSheet(undefined, orderNo, customerId, 'CREATED', lines, ctx.amounts, typeof b.couponCode === 'string' ? b.couponCode : null, delivery, { zip: String(b.address?.zip ?? ''), line1: String(b.address?.line1 ?? '') }, now, now);
    await sheets.add(sheet);
    if (ctx.amounts.points > 0) await db.collection('customers').updateOne({ _id: customerId as never }, { $inc: { points: -ctx.amounts.points } });
    emit('order.created', { orderNo, customerId, total: ctx.amounts.total, lines: lines.map((l) => ({ sku: l.sku, qty: l.quantity, amount: l.price * l.quantity })) });
    res.status(201).json(apiView(sheet, promised));
  });

  app.get('/orders/:orderNo', async (req, res) => {
    res.json(apiView(await find(req.params.orderNo as string)));
  });

  app.post('/orders/:orderNo/address', async (req, res) => {
    const sheet = await find(req.params.orderNo as string);
    if (sheet.state !== 'CREATED' && sheet.state !== 'PAID') throw new HttpError(409, `order ${sheet.orderNo} is ${apiStatus(sheet.state)}`);
    const zip = text((req.body as { zip?: unknown }).zip, 'zip');
    const line1 = text((req.body as { line1?: unknown }).line1, 'line1');
    const { valid } = await partner('POST address.example/v1/verify', { zip }, () => partners.verifyAddress(zip), DRY_RUN_ANSWERS.verifyAddress(zip));
    if (!valid) throw new HttpError(422, `address ${zip} cannot be verified`);
    sheet.shipTo = { zip, line1 };
    sheet.updatedAt = new Date();
    await sheets.save(sheet);
    res.json(apiView(sheet));
  });

  app.post('/orders/:orderNo/pay', async (req, res) => {
    const sheet = await find(req.params.orderNo as string);
    if (sheet.state !== 'CREATED') throw new HttpError(409, `order ${sheet.orderNo} is ${apiStatus(sheet.state)}`);
    const method = text((req.body as { method?: unknown }).method, 'method');
    const { approvalNo } = await partner('POST pg.example/v1/approvals', { orderNo: sheet.orderNo, amount: sheet.amounts.total, method }, () => partners.approve(sheet.orderNo, sheet.amounts.total, method), DRY_RUN_ANSWERS.approve);
    const now = new Date();
    await db.collection('payment_transactions').insertOne({ order: sheet.orderNo, type: 'PAYMENT', amount: sheet.amounts.total, method, pg: { approvalNo }, createdAt: now });
    // SEEDED BUG 3: express orders go straight to PREPARING, one step early (the API still says "paid").
    sheet.state = sheet.delivery.type === 'express' && bugs.has('status-too-early') ? 'PREPARING' : 'PAID';
    sheet.paidAt = now;
    sheet.updatedAt = now;
    await sheets.save(sheet);
    emit('order.paid', { orderNo: sheet.orderNo, amount: sheet.amounts.total, method });
    res.json(apiView(sheet));
  });

  app.post('/orders/:orderNo/cancel', async (req, res) => {
    const sheet = await find(req.params.orderNo as string);
    if (!['PAID', 'PREPARING', 'PARTIALLY_CANCELLED'].includes(sheet.state)) throw new HttpError(409, `order ${sheet.orderNo} is ${apiStatus(sheet.state)}`);
    const requested = (req.body as { items?: unknown }).items;
    if (!Array.isArray(requested) || requested.length === 0) throw new HttpError(400, 'items: at least one item');
    const lines = (requested as { sku: string; qty: unknown }[]).map((r) => ({ sku: r.sku, qty: Number(r.qty) }));
    const cancelled = sheet.cancel(lines);
    const couponShare = sheet.amounts.subtotal === 0 ? 0 : Math.floor((sheet.amounts.couponDiscount * cancelled) / sheet.amounts.subtotal);
    const refund = cancelled - couponShare;
    await partner('POST pg.example/v1/refunds', { orderNo: sheet.orderNo, amount: refund }, () => partners.refund(sheet.orderNo, refund), DRY_RUN_ANSWERS.refund);
    const now = new Date();
    await db.collection('payment_transactions').insertOne({ order: sheet.orderNo, type: 'REFUND', amount: refund, method: 'original', pg: { approvalNo: null }, createdAt: now });
    sheet.amounts.refunded += refund;
    sheet.updatedAt = now;
    await sheets.save(sheet);
    // SEEDED BUG 4: the event carries the cancelled lines' price, not the refund (the coupon share is not taken off).
    emit('order.cancelled', { orderNo: sheet.orderNo, refundAmount: bugs.has('cancel-event-amount') ? cancelled : refund, lines });
    res.json(apiView(sheet));
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) res.status(err.status).json({ error: err.message });
    else res.status(500).json({ error: 'internal error' });
  });

  async function find(orderNo: string): Promise<OrderSheet> {
    const sheet = await sheets.byOrderNo(orderNo);
    if (!sheet) throw new HttpError(404, `no order ${orderNo}`);
    return sheet;
  }

  return app;
}

const API_STATUS: Record<State, string> = { CREATED: 'created', PAID: 'paid', PREPARING: 'paid', PARTIALLY_CANCELLED: 'partially-cancelled', CANCELLED: 'cancelled' };
const apiStatus = (s: State) => API_STATUS[s];

/** The API contract, unchanged from legacy. */
function apiView(s: OrderSheet, guaranteedBy = s.delivery.guaranteedBy) {
  return {
    orderNo: s.orderNo,
    status: apiStatus(s.state),
    items: s.lines.map((l) => ({ sku: l.sku, qty: l.quantity, cancelledQty: l.cancelled, unitPrice: l.price })),
    amounts: { subtotal: s.amounts.subtotal, couponDiscount: s.amounts.couponDiscount, pointsUsed: s.amounts.points, shippingFee: s.amounts.shipping, total: s.amounts.total, refunded: s.amounts.refunded },
    delivery: { option: s.delivery.type, fee: s.delivery.fee, ...(guaranteedBy ? { guaranteedBy } : {}) },
    address: s.shipTo,
  };
}

function text(v: unknown, field: string): string {
  if (typeof v !== 'string' || !v) throw new HttpError(400, `${field}: a non-empty string`);
  return v;
}
