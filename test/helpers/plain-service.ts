// A small service written the way apps are, not to suit shadowdiff: handlers that read and
// write at once (check-then-insert a user, read-modify-write a balance), no delays, no special
// ordering; the SDK is added the documented way (middleware + shadow.mongo).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { MongoClient } from 'mongodb';
import type { ShadowSdk } from '../../capture/sdk';

export function plainService(shadow: ShadowSdk, client: MongoClient, dbName: string): express.Express {
  const db = shadow.mongo(client.db(dbName));
  const a = express();
  a.use(express.json());
  a.use(shadow.middleware());
  a.post('/users', async (req, res) => {
    const users = db.collection('users');
    if (await users.findOne({ email: req.body.email })) return void res.status(409).json({ error: 'taken' });
    await users.insertOne({ email: req.body.email });
    res.status(201).json({ registered: req.body.email, accounts: await users.countDocuments({ email: req.body.email }) });
  });
  a.post('/accounts/:id/credit', async (req, res) => {
    const accounts = db.collection<{ _id: string; balance: number }>('accounts');
    const acc = await accounts.findOne({ _id: req.params.id });
    await accounts.updateOne({ _id: req.params.id }, { $set: { balance: (acc?.balance ?? 0) + 10 } }, { upsert: true });
    res.json({ balance: (acc?.balance ?? 0) + 10 });
  });
  a.get('/accounts/:id', async (req, res) => void res.json(await db.collection('accounts').findOne({ _id: req.params.id as never })));
  return a;
}

export async function listen(a: express.Express): Promise<{ url: string; close(): Promise<void> }> {
  const server = await new Promise<Server>((resolve) => {
    const s = a.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
