// `shadowdiff worker --metrics`: a worker process serves its counters to Prometheus, and the
// counts are what it did with real records from RabbitMQ into the MongoDB-wire server.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { type AddressInfo, connect as connectNet, createServer as createNetServer } from 'node:net';
import { resolve } from 'node:path';
import { connectAmqpBus } from '../../../runtime/bus/amqp';
import { connectMongoStore } from '../../../runtime/store/mongo';
import { AMQP_URL, MONGODB_URL, removeTraces, uniqueDbName } from '../../helpers/services';
import { traffic, waitFor } from '../../helpers/traffic';
import { logger } from './pipeline.contract';
import { promtoolProblems } from '../../helpers/promtool';

jest.setTimeout(60_000);

const BIN = resolve(__dirname, '../../../bin/shadowdiff.js');
const PARTITIONS = 2;

function startWorker(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let out = '';
  const child = spawn(process.execPath, [BIN, 'worker', ...args], { env: { ...process.env, AMQP_URL, MONGODB_URL }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

/** One sample's value from Prometheus text, e.g. shadowdiff_worker_compared_total. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

it('serves its counters at /metrics while it compares, and stops cleanly', async () => {
  const prefix = uniqueDbName('wmetrics');
  const w = startWorker(['--prefix', prefix, '--database', prefix, '--partitions', String(PARTITIONS), '--settle-ms', '20', '--metrics', '127.0.0.1:0', '--log-level', 'info']);
  const publisher = await connectAmqpBus({ url: AMQP_URL, logger, prefix, partitions: PARTITIONS });
  const store = await connectMongoStore({ url: MONGODB_URL, logger, dbName: prefix });
  try {
    let url = '';
    await waitFor(() => (url = /"metrics":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(w.output())?.[1] ?? '') !== '', `the worker's "worker started" line with its metrics address`);
    const t = traffic({ runId: 'm', requests: 30, mismatchEvery: 10 });
    await publisher.publish(t.records);
    let text = '';
    await waitFor(async () => {
      text = await (await fetch(url)).text();
      return sample(text, 'shadowdiff_worker_stored_total') === 30;
    }, 'shadowdiff_worker_stored_total to reach 30');
    expect(sample(text, 'shadowdiff_worker_compared_total')).toBe(30);
    expect(sample(text, 'shadowdiff_worker_received_total')).toBe(t.records.length);
    expect(sample(text, 'shadowdiff_worker_dead_lettered_total')).toBe(0);
    expect(sample(text, 'shadowdiff_worker_open_joins')).toBe(0);
    expect(text).toContain('# TYPE shadowdiff_worker_compared_total counter');
    // Node's process metrics unprefixed, as stock dashboards expect them.
    expect(text).toContain('process_cpu_seconds_total');
    // What was compared, by route and verdict (every verdict of a route exists, at 0 if need be).
    const byVerdict = [...text.matchAll(/^shadowdiff_worker_comparisons_total\{route="([^"]+)",verdict="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], m[2], Number(m[3])] as const);
    expect(byVerdict.reduce((n, [, , v]) => n + v, 0)).toBe(30);
    expect(byVerdict.filter(([, v]) => v === 'mismatch').reduce((n, [, , c]) => n + c, 0)).toBe(3);
    expect(new Set(byVerdict.filter(([r]) => r === byVerdict[0]![0]).map(([, v]) => v))).toEqual(new Set(['match', 'mismatch', 'incomplete', 'inconclusive', 'error']));
    expect(text).toMatch(/^shadowdiff_worker_findings_total\{route="[^"]+",target="[^"]+",severity="\w+"\} \d+$/m);
    expect(sample(text, 'shadowdiff_worker_detection_seconds_count')).toBe(30);
    expect(promtoolProblems(text)).toEqual([]);
    expect(await store.countComparisons('m')).toBe(30);

    const health = await fetch(url.replace('/metrics', '/healthz'));
    expect(health.status).toBe(200);
    const other = await fetch(url.replace('/metrics', '/nope'));
    expect(other.status).toBe(404);
    expect(await other.text()).toMatch(/GET \/metrics/);

    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  } finally {
    w.child.kill('SIGKILL');
    await publisher.close();
    await store.close();
    await removeTraces(prefix, PARTITIONS, [prefix]);
  }
});

it('says what is wrong with a --metrics address, before connecting to anything', async () => {
  const w = startWorker(['--metrics', 'nine-four-six-four', '--amqp-url', 'amqp://127.0.0.1:1', '--mongodb-url', 'mongodb://127.0.0.1:1']);
  expect(await w.exited).toBe(2);
  expect(w.output()).toMatch(/--metrics "nine-four-six-four" must be HOST:PORT, e.g. 127\.0\.0\.1:9464/);
  expect(w.output()).not.toMatch(/\n\s+at /);
});

it('says so when the metrics address is taken, and exits without consuming', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const { port } = taken.address() as AddressInfo;
  const prefix = uniqueDbName('wmetrics');
  const w = startWorker(['--prefix', prefix, '--database', prefix, '--partitions', String(PARTITIONS), '--metrics', `127.0.0.1:${port}`]);
  try {
    expect(await w.exited).toBe(2);
    expect(w.output()).toContain(`the worker's metrics cannot listen on 127.0.0.1:${port} (EADDRINUSE): choose another --metrics.`);
  } finally {
    // A worker that failed to exit must not outlive the test: its pipes would keep jest running.
    w.child.kill('SIGKILL');
    taken.close();
    await removeTraces(prefix, PARTITIONS, [prefix]);
  }
});

it('a worker started while MongoDB is unreachable waits for it, then starts (it used to exit 2)', async () => {
  // A port nothing answers on yet; once the worker is waiting, a relay to the MongoDB-wire server opens there.
  const port = await new Promise<number>((r) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => r(p));
    });
  });
  const target = new URL(MONGODB_URL);
  const prefix = uniqueDbName('wwait');
  let out = '';
  const child = spawn(process.execPath, [BIN, 'worker', '--prefix', prefix, '--database', prefix, '--partitions', String(PARTITIONS), '--log-level', 'info'], { env: { ...process.env, AMQP_URL, MONGODB_URL: `mongodb://127.0.0.1:${port}/` }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const relay = createNetServer((c) => {
    const up = connectNet(Number(target.port || 27017), target.hostname);
    c.pipe(up).pipe(c);
    up.on('error', () => c.destroy());
    c.on('error', () => up.destroy());
  });
  try {
    await waitFor(() => /waiting for the bus and the store/.test(out), 'the worker to say it waits for the store', 40_000);
    expect(child.exitCode).toBeNull();
    await new Promise<void>((r) => relay.listen(port, '127.0.0.1', () => r()));
    await waitFor(() => /worker started/.test(out), 'the worker to start once MongoDB answers', 40_000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
    relay.close();
    await removeTraces(prefix, PARTITIONS, [prefix]);
  }
}, 90_000);
