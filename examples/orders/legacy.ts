// The legacy order service: the system in production today. Procedural handlers over flat
// order documents in `shop.orders`, payments in `shop.payments`, domain events on the `orders`
// exchange. With the SDK in live mode its writes, events and partner calls happen and are
// recorded for every mirrored request.
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Channel, ConfirmChannel } from 'amqplib';
import type { Db, ObjectId } from 'mongodb';
import type { ShadowSdk } from '../../capture/sdk';
import type { Partners } from './partners';
import { DRY_RUN_ANSWERS } from './partners';

export const EVENTS_EXCHANGE = 'demo.orders';

export interface ServiceDeps {
  shadow: ShadowSdk;
  /** The shop database, instrumented by the SDK. */
  db: Db;
  /** The events channel, instrumented by the SDK. */
  events: Channel | ConfirmChannel;
  partners: Partners;
  /**
   * The candidate only. How it stores orders: `v2` (its own schema, migrating legacy's documents
   * on their first write), or `both` while a cutover ramps (docs/cutover.md): each document keeps
   * legacy's v1 fields, read first, beside the v2 ones, so that either system can serve any order.
   */
  schema?: 'v2' | 'both';
  /** The candidate only: the seeded bugs it carries (bugs.ts ids); default all of them. */
  bugs?: ReadonlySet<string>;
}

interface Item {
  sku: string;
  name: string;
  unitPrice: number;
  qty: number;
  cancelledQty: number;
}

interface OrderDoc {
  _id?: ObjectId;
  orderNo: string;
  customerId: string;
  status: 'created' | 'paid' | 'partially-cancelled' | 'cancelled';
  items: Item[];
  subtotal: number;
  couponCode: string | null;
  couponDiscount: number;
  pointsUsed: number;
  shippingFee: number;
  total: number;
  refundedAmount: number;
  delivery: { option: string; fee: number; guaranteedBy?: string };
  address: { zip: string; line1: string };
  createdAt: Date;
  updatedAt: Date;
  paidAt?: Date;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const FREE_SHIPPING_FROM = 50_000;
const BASE_SHIPPING = 3_000;
const EXPRESS_FEE = 2_500;
const GUARANTEE_FEE = 1_500;

export function legacyApp(deps: ServiceDeps): express.Express {
  const { shadow, db, events, partners } = deps;
  const orders = db.collection<OrderDoc>('orders');
  const call = <T>(target: string, payload: unknown, perform: () => Promise<T>, dryRun: T) => shadow.effect({ kind: 'http', target, payload }, perform, dryRun);
  const publish = (type: string, data: Record<string, unknown>) =>
    events.publish(EVENTS_EXCHANGE, type, Buffer.from(JSON.stringify({ eventId: randomUUID(), type, ...data, occurredAt: new Date().toISOString() })), { contentType: 'application/json', persistent: true });

  const app = express();
  app.get('/health', (_req, res) => void res.json({ status: 'ok' }));
  app.use(express.json());
  app.use(shadow.middleware());

  app.post('/orders', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const checkoutId = str(body.checkoutId, 'checkoutId');
    const customerId = str(body.customerId, 'customerId');
    const lines = body.items;
    if (!Array.isArray(lines) || lines.length === 0) throw new HttpError(400, 'items: at least one item');
    const option = str(body.delivery, 'delivery');
    if (!['standard', 'express', 'guaranteed'].includes(option)) throw new HttpError(400, 'delivery: standard, express or guaranteed');
    const address = body.address as { zip?: unknown; line1?: unknown } | undefined;
    const orderNo = `ORD-${checkoutId}`;
    if (await orders.findOne({ orderNo })) throw new HttpError(409, `order ${orderNo} exists`);

    const items: Item[] = [];
    let subtotal = 0;
    for (const line of lines as { sku?: unknown; qty?: unknown }[]) {
      const product = await db.collection<{ _id: string; name: string; price: number }>('products').findOne({ _id: str(line.sku, 'items[].sku') });
      if (!product) throw new HttpError(422, `unknown product ${String(line.sku)}`);
      const qty = Number(line.qty);
      if (!Number.isInteger(qty) || qty < 1) throw new HttpError(400, 'items[].qty: a positive integer');
      items.push({ sku: product._id, name: product.name, unitPrice: product.price, qty, cancelledQty: 0 });
      subtotal += product.price * qty;
    }

    let couponDiscount = 0;
    const couponCode = typeof body.couponCode === 'string' ? body.couponCode : null;
    if (couponCode) {
      const coupon = await db.collection<{ _id: string; type: string; value: number }>('coupons').findOne({ _id: couponCode });
      if (!coupon) throw new HttpError(422, `unknown coupon ${couponCode}`);
      couponDiscount = coupon.type === 'percent' ? Math.floor((subtotal * coupon.value) / 100) : Math.min(coupon.value, subtotal);
    }

    const customer = await db.collection<{ _id: string; points: number }>('customers').findOne({ _id: customerId });
    if (!customer) throw new HttpError(422, `unknown customer ${customerId}`);
    const pointsUsed = Math.min(Number(body.usePoints ?? 0) || 0, customer.points, subtotal - couponDiscount);

    let shippingFee = subtotal - couponDiscount >= FREE_SHIPPING_FROM ? 0 : BASE_SHIPPING;
    if (option === 'express') shippingFee += EXPRESS_FEE;
    if (option === 'guaranteed') shippingFee += GUARANTEE_FEE;
    const delivery: OrderDoc['delivery'] = { option, fee: shippingFee };
    if (option === 'guaranteed') delivery.guaranteedBy = daysFromNow(2);

    await call('POST inventory.example/v1/reservations', { orderNo, lines: items.map((i) => ({ sku: i.sku, qty: i.qty })) }, () => partners.reserve(orderNo, items), DRY_RUN_ANSWERS.reserve);

    const now = new Date();
    const order: OrderDoc = {
      orderNo,
      customerId,
      status: 'created',
      items,
      subtotal,
      couponCode,
      couponDiscount,
      pointsUsed,
      shippingFee,
      total: subtotal - couponDiscount - pointsUsed + shippingFee,
      refundedAmount: 0,
      delivery,
      address: { zip: String(address?.zip ?? ''), line1: String(address?.line1 ?? '') },
      createdAt: now,
      updatedAt: now,
    };
    await orders.insertOne(order);
    if (pointsUsed > 0) await db.collection('customers').updateOne({ _id: customerId as never }, { $inc: { points: -pointsUsed } });
    publish('order.created', { orderNo, customerId, total: order.total, lines: items.map((i) => ({ sku: i.sku, qty: i.qty, amount: i.unitPrice * i.qty })) });
    res.status(201).json(view(order));
  });

  app.get('/orders/:orderNo', async (req, res) => {
    res.json(view(await load(req.params.orderNo as string)));
  });

  app.post('/orders/:orderNo/address', async (req, res) => {
    const order = await load(req.params.orderNo as string);
    if (order.status !== 'created' && order.status !== 'paid') throw new HttpError(409, `order ${order.orderNo} is ${order.status}`);
    const zip = str((req.body as { zip?: unknown }).zip, 'zip');
    const line1 = str((req.body as { line1?: unknown }).line1, 'line1');
    const { valid } = await call('POST address.example/v1/verify', { zip }, () => partners.verifyAddress(zip), DRY_RUN_ANSWERS.verifyAddress(zip));
    if (!valid) throw new HttpError(422, `address ${zip} cannot be verified`);
    await orders.updateOne({ _id: order._id as never }, { $set: { address: { zip, line1 }, updatedAt: new Date() } });
    res.json(view({ ...order, address: { zip, line1 } }));
  });

  app.post('/orders/:orderNo/pay', async (req, res) => {
    const order = await load(req.params.orderNo as string);
    if (order.status !== 'created') throw new HttpError(409, `order ${order.orderNo} is ${order.status}`);
    const method = str((req.body as { method?: unknown }).method, 'method');
    const { approvalNo } = await call('POST pg.example/v1/approvals', { orderNo: order.orderNo, amount: order.total, method }, () => partners.approve(order.orderNo, order.total, method), DRY_RUN_ANSWERS.approve);
    const now = new Date();
    await db.collection('payments').insertOne({ orderNo: order.orderNo, kind: 'payment', amount: order.total, method, approvalNo, createdAt: now });
    await orders.updateOne({ _id: order._id as never }, { $set: { status: 'paid', paidAt: now, updatedAt: now } });
    publish('order.paid', { orderNo: order.orderNo, amount: order.total, method });
    res.json(view({ ...order, status: 'paid', paidAt: now }));
  });

  // Partial cancel: lines come back, the refund is their price less their share of the coupon.
  app.post('/orders/:orderNo/cancel', async (req, res) => {
    const order = await load(req.params.orderNo as string);
    if (order.status !== 'paid' && order.status !== 'partially-cancelled') throw new HttpError(409, `order ${order.orderNo} is ${order.status}`);
    const lines = (req.body as { items?: unknown }).items;
    if (!Array.isArray(lines) || lines.length === 0) throw new HttpError(400, 'items: at least one item');
    const set: Record<string, unknown> = {};
    let cancelAmount = 0;
    for (const line of lines as { sku?: unknown; qty?: unknown }[]) {
      const i = order.items.findIndex((it) => it.sku === line.sku);
      const item = order.items[i];
      const qty = Number(line.qty);
      if (!item || !Number.isInteger(qty) || qty < 1 || item.cancelledQty + qty > item.qty) throw new HttpError(422, `cannot cancel ${String(line.qty)} of ${String(line.sku)}`);
      item.cancelledQty += qty;
      set[`items.${i}.cancelledQty`] = item.cancelledQty;
      cancelAmount += item.unitPrice * qty;
    }
    const couponShare = order.subtotal === 0 ? 0 : Math.floor((order.couponDiscount * cancelAmount) / order.subtotal);
    const refund = cancelAmount - couponShare;
    await call('POST pg.example/v1/refunds', { orderNo: order.orderNo, amount: refund }, () => partners.refund(order.orderNo, refund), DRY_RUN_ANSWERS.refund);
    const allCancelled = order.items.every((it) => it.cancelledQty === it.qty);
    const now = new Date();
    await db.collection('payments').insertOne({ orderNo: order.orderNo, kind: 'refund', amount: refund, method: 'original', approvalNo: null, createdAt: now });
    await orders.updateOne({ _id: order._id as never }, { $set: { ...set, refundedAmount: order.refundedAmount + refund, status: allCancelled ? 'cancelled' : 'partially-cancelled', updatedAt: now } });
    publish('order.cancelled', { orderNo: order.orderNo, refundAmount: refund, lines: lines.map((l: { sku: string; qty: number }) => ({ sku: l.sku, qty: Number(l.qty) })) });
    res.json(view({ ...order, refundedAmount: order.refundedAmount + refund, status: allCancelled ? 'cancelled' : 'partially-cancelled' }));
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) res.status(err.status).json({ error: err.message });
    else res.status(500).json({ error: 'internal error' });
  });

  async function load(orderNo: string): Promise<OrderDoc> {
    const order = await orders.findOne({ orderNo });
    if (!order) throw new HttpError(404, `no order ${orderNo}`);
    return order as OrderDoc;
  }

  return app;
}

/** The order as the API shows it: the contract both services keep. */
function view(o: OrderDoc) {
  return {
    orderNo: o.orderNo,
    status: o.status,
    items: o.items.map((i) => ({ sku: i.sku, qty: i.qty, cancelledQty: i.cancelledQty, unitPrice: i.unitPrice })),
    amounts: { subtotal: o.subtotal, couponDiscount: o.couponDiscount, pointsUsed: o.pointsUsed, shippingFee: o.shippingFee, total: o.total, refunded: o.refundedAmount },
    delivery: o.delivery,
    address: o.address,
  };
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || !v) throw new HttpError(400, `${field}: a non-empty string`);
  return v;
}

export function daysFromNow(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}
