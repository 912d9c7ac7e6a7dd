// Both backing services answer through the official clients the product uses.
import { connectMongo, connectRabbit, uniqueDbName } from '../../helpers/services';

describe('test services', () => {
  it('RabbitMQ accepts a publish and delivers it back through amqplib', async () => {
    const conn = await connectRabbit();
    try {
      const ch = await conn.createConfirmChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
      const body = { hello: 'rabbit', n: Math.random() };
      ch.sendToQueue(queue, Buffer.from(JSON.stringify(body)), { contentType: 'application/json' });
      await ch.waitForConfirms();
      const msg = await ch.get(queue, { noAck: true });
      expect(msg).not.toBe(false);
      expect(JSON.parse((msg as { content: Buffer }).content.toString())).toEqual(body);
      await ch.close();
    } finally {
      await conn.close();
    }
  });

  it('the MongoDB-wire server stores and returns a document through the mongodb driver', async () => {
    const client = await connectMongo();
    const db = client.db(uniqueDbName('smoke'));
    try {
      const doc = { orderNo: 'A-1', total: 12000, items: [{ sku: 'x', qty: 2 }] };
      const { insertedId } = await db.collection('orders').insertOne({ ...doc });
      const back = await db.collection('orders').findOne({ _id: insertedId });
      expect(back).toMatchObject({ orderNo: 'A-1', total: 12000, items: [{ sku: 'x', qty: 2 }] });
      const updated = await db.collection('orders').updateOne({ _id: insertedId }, { $inc: { total: 500 } });
      expect(updated.modifiedCount).toBe(1);
      expect((await db.collection('orders').findOne({ _id: insertedId }))?.total).toBe(12500);
    } finally {
      await db.dropDatabase();
      await client.close();
    }
  });
});
