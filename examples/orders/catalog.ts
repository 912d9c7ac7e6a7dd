// What both order services read and never write: products, coupons and customers (whose points
// balance orders do write). The demo seeds a fresh shop database with it on every start.
import type { Db } from 'mongodb';

export const PRODUCTS = [
  { _id: 'TEE-BLK', name: 'Black tee', price: 19_990 },
  { _id: 'MUG-WHT', name: 'White mug', price: 12_450 },
  { _id: 'CAP-NVY', name: 'Navy cap', price: 24_950 },
  { _id: 'SOCK-3P', name: 'Socks, 3 pairs', price: 8_990 },
  { _id: 'BAG-TOTE', name: 'Tote bag', price: 34_500 },
  { _id: 'PEN-SET', name: 'Pen set', price: 6_330 },
] as const;

export const COUPONS = [
  { _id: 'WELCOME10', type: 'percent', value: 10 },
  { _id: 'SPRING15', type: 'percent', value: 15 },
  { _id: 'VIP7', type: 'percent', value: 7 },
  { _id: 'SAVE3000', type: 'amount', value: 3_000 },
] as const;

export const CUSTOMERS = Array.from({ length: 64 }, (_, i) => ({ _id: `C-${String(i + 1).padStart(4, '0')}`, name: `Customer ${i + 1}`, points: 5_000 + ((i * 7_919) % 45_000) }));

export const DELIVERY_OPTIONS = ['standard', 'express', 'guaranteed'] as const;
export type DeliveryOption = (typeof DELIVERY_OPTIONS)[number];

/** Empties the shop's collections and writes the catalog. */
export async function seedShop(db: Db): Promise<void> {
  for (const name of ['products', 'coupons', 'customers', 'orders', 'payments', 'payment_transactions']) await db.collection(name).deleteMany({});
  // Orders are looked up by number on every request: without the index each lookup scans them all.
  await db.collection('orders').createIndex({ orderNo: 1 }, { unique: true });
  for (const p of PRODUCTS) await db.collection('products').insertOne({ ...p } as never);
  for (const c of COUPONS) await db.collection('coupons').insertOne({ ...c } as never);
  for (const c of CUSTOMERS) await db.collection('customers').insertOne({ ...c } as never);
}
