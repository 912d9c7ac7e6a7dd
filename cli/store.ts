// The store a reading command (report, export) opens: a saved embedded run directory, or
// MongoDB from MONGODB_URL. Errors say which to provide.
import { configFromEnv, resolveConfig } from '../core/config';
import { ShadowdiffError } from '../core/errors';
import { createLogger } from '../core/logger';
import { createRuntime } from '../runtime';
import { MemoryStore } from '../runtime/store/memory';
import type { Store } from '../runtime/store/store';
import type { CliIo } from './io';

export async function openRunStore(io: CliIo, command: string, from: string | undefined): Promise<{ store: Store; close: () => Promise<void> }> {
  if (from) {
    let store: MemoryStore;
    try {
      store = await MemoryStore.open(from);
    } catch (err) {
      if (err instanceof ShadowdiffError) throw err;
      throw new ShadowdiffError('SHADOWDIFF_IO', `cannot open the saved run ${from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { file: from });
    }
    return { store, close: () => store.close() };
  }
  const config = resolveConfig(configFromEnv(io.env));
  if (!config.mongodbUrl) throw new ShadowdiffError('SHADOWDIFF_USAGE', `${command} reads the store: set MONGODB_URL, or pass --from DIR for a saved embedded run.`);
  const runtime = await createRuntime({ ...config, amqpUrl: undefined }, createLogger({ level: 'warn', destination: io.stderr }));
  return { store: runtime.store, close: () => runtime.close() };
}
