// Chaos: 20,000 requests' records published while one worker process is SIGKILLed and restarted
// several times and RabbitMQ is restarted once. Afterwards every shadow id has exactly one
// comparison and the rollup counts equal the ground truth.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { connectAmqpBus } from '../../../runtime/bus/amqp';
import { deleteTopology } from '../../../runtime/bus/topology';
import { connectMongoStore } from '../../../runtime/store/mongo';
import { AMQP_URL, connectRabbit, MONGODB_URL, uniqueDbName } from '../../helpers/services';
import { traffic, waitFor } from '../../helpers/traffic';
import { logger } from './pipeline.contract';

const run = promisify(execFile);
const REQUESTS = 20_000;
const PARTITIONS = 4;
const BIN = resolve(__dirname, '../../../bin/shadowdiff.js');

async function restartRabbit(): Promise<void> {
  try {
    await run('rabbitmqctl', ['stop_app'], { timeout: 60_000 });
    await run('rabbitmqctl', ['start_app'], { timeout: 120_000 });
  } catch (err) {
    throw new Error(`could not restart RabbitMQ with rabbitmqctl (the chaos test needs the broker on this host, run as root): ${(err as Error).message}`);
  }
}

describe('chaos: worker SIGKILLs and a broker restart under load', () => {
  const prefix = uniqueDbName('chaos');
  const logs: string[] = [];
  const children = new Set<ChildProcess>();

  const startWorker = (name: string): ChildProcess => {
    const child = spawn(
      process.execPath,
      [BIN, 'worker', '--prefix', prefix, '--database', prefix, '--partitions', String(PARTITIONS), '--settle-ms', '50', '--timeout-ms', '120000', '--log-level', 'warn'],
      { env: { ...process.env, AMQP_URL, MONGODB_URL }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d: Buffer) => logs.push(`[${name}] ${d}`));
    child.stderr!.on('data', (d: Buffer) => logs.push(`[${name}] ${d}`));
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  };

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    const conn = await connectRabbit();
    await deleteTopology(conn, prefix, PARTITIONS);
    await conn.close();
  });

  it('ends with exactly one comparison per request and exact rollups', async () => {
    const t = traffic({ runId: 'chaos', requests: REQUESTS, mismatchEvery: 13, messages: false });
    const store = await connectMongoStore({ url: MONGODB_URL, logger, dbName: prefix });
    const publisher = await connectAmqpBus({ url: AMQP_URL, logger, prefix, partitions: PARTITIONS, publishTimeoutMs: 180_000 });
    try {
      startWorker('steady');
      let victim = startWorker('victim-0');
      const chunk = 4000;
      const chunks = Math.ceil(t.records.length / chunk);
      let kills = 0;
      for (let i = 0; i < chunks; i++) {
        // Half the chunks as one record a message, half packed per partition.
        await publisher.publish(t.records.slice(i * chunk, (i + 1) * chunk), i % 2 ? { batch: 32_768 } : {});
        if (i % 4 === 2 && kills < 4) {
          victim.kill('SIGKILL');
          kills += 1;
          await new Promise((r) => setTimeout(r, 300));
          victim = startWorker(`victim-${kills}`);
        }
        if (i === Math.floor(chunks / 2)) await restartRabbit();
      }
      expect(kills).toBeGreaterThanOrEqual(3);
      await waitFor(async () => (await store.countComparisons('chaos')) >= REQUESTS, `${REQUESTS} comparisons`, 400_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${logs.slice(-30).join('')}`);
      });
      // Let anything still in flight land, then stop the workers the polite way.
      await new Promise((r) => setTimeout(r, 1000));
      for (const c of [...children]) c.kill('SIGTERM');
      await waitFor(() => children.size === 0, 'workers to exit', 60_000);
      expect(await store.countComparisons('chaos')).toBe(REQUESTS);
      await store.flushRollups('chaos');
      const routes = Object.values((await store.getRollup('chaos')).routes);
      const sum = (k: 'match' | 'mismatch' | 'incomplete' | 'error') => routes.reduce((n, r) => n + r.verdicts[k], 0);
      const truth = [...t.truth.values()];
      expect(routes.reduce((n, r) => n + r.compared, 0)).toBe(REQUESTS);
      expect(sum('mismatch')).toBe(truth.filter((v) => v === 'mismatch').length);
      expect(sum('match')).toBe(truth.filter((v) => v === 'match').length);
      expect(sum('incomplete') + sum('error')).toBe(0);
    } finally {
      await publisher.close();
      await store.drop();
      await store.close();
    }
  }, 900_000);
});
