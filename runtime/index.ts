// The runtime: a bus and a store chosen by the config — RabbitMQ and MongoDB when their URLs
// are set, the embedded adapters otherwise. The CLI calls this; handoff/index.ts picks the
// handoff the same way. Nothing else imports an adapter but two allowed importers (the SDK's
// RabbitMQ sink, the proxy's hosted handoff), which test/unit/architecture.test.ts names.
import type { PipelineConfig } from '../core/config';
import type { Logger } from '../core/logger';
import { componentLogger } from '../core/logger';
import { connectAmqpBus } from './bus/amqp';
import type { Bus } from './bus/bus';
import { MemoryBus } from './bus/memory';
import { MemoryStore } from './store/memory';
import { connectMongoStore } from './store/mongo';
import type { Store } from './store/store';

export interface Runtime {
  bus: Bus;
  store: Store;
  /** `embedded` when both adapters are in-process. */
  kind: 'distributed' | 'embedded' | 'mixed';
  close(): Promise<void>;
}

export async function createRuntime(config: PipelineConfig, logger: Logger): Promise<Runtime> {
  const bus = config.amqpUrl
    ? await connectAmqpBus({
        url: config.amqpUrl,
        logger: componentLogger(logger, 'bus'),
        prefix: config.prefix,
        partitions: config.partitions,
        prefetch: config.prefetch,
        queueType: config.queueType,
        deliveryLimit: config.deliveryLimit,
      })
    : new MemoryBus({ partitions: config.partitions, prefetch: config.prefetch });
  let store: Store;
  try {
    store = config.mongodbUrl
      ? await connectMongoStore({ url: config.mongodbUrl, logger: componentLogger(logger, 'store'), dbName: config.database, retention: config.retention })
      : new MemoryStore({ retention: config.retention });
  } catch (err) {
    await bus.close();
    throw err;
  }
  const kind = config.amqpUrl && config.mongodbUrl ? 'distributed' : !config.amqpUrl && !config.mongodbUrl ? 'embedded' : 'mixed';
  return {
    bus,
    store,
    kind,
    close: async () => {
      await bus.close();
      await store.close();
    },
  };
}
