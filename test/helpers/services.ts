// Connections to the real services the integration suites use. A suite that cannot reach
// one fails with a message naming what to start; it never skips.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { MongoClient } from 'mongodb';
import { redactUrl } from '../../core/net';
import { deleteTopology } from '../../runtime/bus/topology';

export const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const MONGODB_URL = process.env.TEST_MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** RabbitMQ's management HTTP API (the plugin rabbitmq_management; scripts/test-services.js turns it on). */
export const AMQP_MANAGEMENT_URL = process.env.TEST_AMQP_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';

const HOW = 'Start the test services with `npm run services` (RabbitMQ on 127.0.0.1:5672, a MongoDB-compatible server on 127.0.0.1:27017), or set TEST_AMQP_URL / TEST_MONGODB_URL.';

export async function connectRabbit(): Promise<amqp.ChannelModel> {
  try {
    return await amqp.connect(AMQP_URL, { timeout: 5000 });
  } catch (err) {
    throw new Error(`RabbitMQ is not reachable at ${redactUrl(AMQP_URL)}: ${(err as Error).message}. ${HOW}`);
  }
}

export async function connectMongo(): Promise<MongoClient> {
  const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    return client;
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(`The MongoDB-compatible server is not reachable at ${MONGODB_URL}: ${(err as Error).message}. ${HOW}`);
  }
}

/** Fails with what to start when the management API does not answer. */
export async function managementReady(): Promise<void> {
  const u = new URL(AMQP_MANAGEMENT_URL);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  u.username = '';
  u.password = '';
  try {
    const res = await fetch(new URL('/api/overview', u), { headers: { authorization: auth }, signal: AbortSignal.timeout(5000) });
    if (res.ok) return;
    throw new Error(`it answered ${res.status}`);
  } catch (err) {
    throw new Error(`RabbitMQ's management API is not reachable at ${redactUrl(AMQP_MANAGEMENT_URL)}: ${(err as Error).message}. Run \`npm run services\` (it enables the plugin) or \`rabbitmq-plugins enable rabbitmq_management\`, or set TEST_AMQP_MANAGEMENT_URL.`);
  }
}

/** A database name no other test uses. */
export function uniqueDbName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

export interface PrivateMongo {
  readonly url: string;
  /** Kills the server (SIGKILL: no clean shutdown) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open and nothing is answered, as a hung server. Thawed by `resume` (SIGCONT). */
  pause(): void;
  resume(): void;
  /** Stops it and removes its data. */
  dispose(): Promise<void>;
}

/**
 * A MongoDB-wire server of the test's own, to stop and restart without disturbing the suites
 * that share the one on 27017: `mongod` where installed, else the FerretDB that
 * scripts/test-services.js built and cached.
 */
export async function privateMongo(): Promise<PrivateMongo> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-private-mongo-'));
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const mongod = spawnSync('sh', ['-c', 'command -v mongod'], { encoding: 'utf8' }).stdout.trim();
  // Where scripts/test-services.js caches it.
  const ferret = join(process.env.SHADOWDIFF_CACHE_DIR || join(homedir(), '.cache', 'shadowdiff'), 'bin', 'ferretdb-v1.24.2');
  const [bin, args] = mongod
    ? [mongod, ['--dbpath', dir, '--bind_ip', '127.0.0.1', '--port', String(port), '--quiet']]
    : [ferret, ['--handler=sqlite', `--sqlite-url=file:${dir}/`, `--listen-addr=127.0.0.1:${port}`, `--state-dir=${dir}`, '--debug-addr=127.0.0.1:0', '--telemetry=disable', '--log-level=error']];
  if (!mongod && !existsSync(ferret)) throw new Error(`No mongod and no FerretDB at ${ferret} to start a private MongoDB-wire server: run \`npm run services\` (it builds FerretDB with Go) or install mongod.`);
  const url = `mongodb://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const ready = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new MongoClient(url, { serverSelectionTimeoutMS: 500 });
      try {
        await client.db('admin').command({ ping: 1 });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the private MongoDB-wire server (${bin}) did not answer at ${url} within 30 s: ${(err as Error).message}`);
      } finally {
        await client.close().catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const start = async () => {
    child = spawn(bin, args, { stdio: 'ignore' });
    await ready();
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  };
  await start();
  return {
    url,
    kill,
    start,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    async dispose() {
      child?.kill('SIGCONT');
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Drops what a test made under a throwaway prefix: its databases, and its queues and exchanges. */
export async function removeTraces(prefix: string, partitions: number, databases: string[]): Promise<void> {
  const [client, rabbit] = [await connectMongo(), await connectRabbit()];
  try {
    for (const db of databases) await client.db(db).dropDatabase();
    await deleteTopology(rabbit, prefix, partitions);
  } finally {
    await client.close();
    await rabbit.close();
  }
}
