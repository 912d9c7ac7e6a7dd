// The service bench/sdk.js loads: an express order handler on the MongoDB driver (insert the
// order, read it back), either plain or with the shadowdiff SDK installed (`sdk`), and then
// with the pre-state handoff in the process (`sdk-handoff-memory`) or in Redis (`sdk-handoff-redis`). Reports its CPU time
// and the SDK's counters over IPC when asked, so the bench can price the SDK per write.
'use strict';
const express = require('express');
const { MongoClient } = require('mongodb');

const [mode, sinkUrl, dbName, prefix] = process.argv.slice(2);
(async () => {
  const client = await MongoClient.connect(process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017', { maxPoolSize: 20 });
  let sdk;
  let orders = client.db(dbName).collection(`orders_${mode}`);
  const app = express();
  app.use(express.json());
  if (mode.startsWith('sdk')) {
    const { createShadow } = require('../../dist/capture/sdk');
    const { createLogger } = require('../../dist/core/logger');
    const sink = sinkUrl === 'discard' ? { write: async () => undefined } : sinkUrl;
    let handoff;
    if (mode === 'sdk-handoff-memory') handoff = { store: new (require('../../dist/runtime/handoff/memory').MemoryHandoff)() };
    if (mode === 'sdk-handoff-redis') handoff = { store: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix };
    sdk = createShadow({ side: 'legacy', sink, prefix, partitions: 4, logger: createLogger({ level: 'warn' }), redact: { secret: 'bench-secret-0123456789', paths: ['card.number'] }, ...(handoff ? { handoff } : {}) });
    orders = sdk.mongo(client).db(dbName).collection(`orders_${mode}`);
    app.use(sdk.middleware());
  }
  let seq = 0;
  app.post('/orders', async (req, res) => {
    const id = `${process.pid}-${++seq}`;
    await orders.insertOne({ _id: id, ...req.body, status: 'new', createdAt: new Date() });
    const stored = await orders.findOne({ _id: id }, { projection: { total: 1, status: 1 } });
    res.status(201).json(stored);
  });
  const server = app.listen(0, '127.0.0.1', () => process.send({ ready: server.address().port }));
  let cpuAtStart = process.cpuUsage();
  process.on('message', async (m) => {
    if (m === 'reset') {
      // Every measurement starts from an empty collection: FerretDB scans a collection for
      // each query, so a growing one would slow whichever variant runs later.
      await client.db(dbName).collection(`orders_${mode}`).deleteMany({});
      cpuAtStart = process.cpuUsage();
      process.send({ reset: true });
    } else if (m === 'report') {
      const cpu = process.cpuUsage(cpuAtStart);
      if (sdk) await sdk.flush(10_000);
      process.send({ cpuMicros: cpu.user + cpu.system, sdk: sdk?.stats() });
    } else if (m === 'stop') {
      await sdk?.close(2000);
      server.close();
      await client.close();
      process.exit(0);
    }
  });
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
