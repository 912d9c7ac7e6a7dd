// The same pipeline suite on RabbitMQ + MongoDB (the test servers) and on the embedded runtime.
import type { Bus } from '../../../runtime/bus/bus';
import { AmqpBus, connectAmqpBus } from '../../../runtime/bus/amqp';
import { MemoryBus, type MemoryConnection } from '../../../runtime/bus/memory';
import { deleteTopology } from '../../../runtime/bus/topology';
import { MemoryStore } from '../../../runtime/store/memory';
import { connectMongoStore } from '../../../runtime/store/mongo';
import { AMQP_URL, connectRabbit, MONGODB_URL, uniqueDbName } from '../../helpers/services';
import { logger, pipelineContract } from './pipeline.contract';

const PARTITIONS = 4;

pipelineContract({
  name: 'RabbitMQ + MongoDB',
  async open() {
    const prefix = uniqueDbName('sdtest');
    const store = await connectMongoStore({ url: MONGODB_URL, logger, dbName: prefix });
    const buses: AmqpBus[] = [];
    return {
      store,
      connect: async () => {
        const bus = await connectAmqpBus({ url: AMQP_URL, logger, prefix, partitions: PARTITIONS, rebalanceMs: 500 });
        buses.push(bus);
        return bus;
      },
      crash: (bus: Bus) => bus.close(),
      deadLetters: (bus: Bus) => bus.drainDeadLetters(100),
      close: async () => {
        for (const b of buses) await b.close();
        await store.drop();
        await store.close();
        // Leave the broker as we found it.
        const conn = await connectRabbit();
        await deleteTopology(conn, prefix, PARTITIONS);
        await conn.close();
      },
    };
  },
});

pipelineContract({
  name: 'embedded',
  async open() {
    const bus = new MemoryBus({ partitions: PARTITIONS });
    return {
      store: new MemoryStore(),
      connect: async () => bus.connect(),
      crash: async (conn: Bus) => (conn as MemoryConnection).crash(),
      deadLetters: () => bus.drainDeadLetters(100),
      close: () => bus.close(),
    };
  },
});
