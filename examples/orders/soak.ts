// The soak: the example services behind the proxy on the distributed runtime — RabbitMQ, `shadowdiff
// worker` processes, MongoDB — under a steady mirrored load for a set time. It measures the
// primary path with and without shadowdiff (straight to legacy first, then through the proxy
// mirroring every request), samples the workers' memory, and ends with the accounting: every
// mirrored request must have exactly one comparison. `npm run soak` prints it (scripts/soak.js);
// a short run is part of `npm test`.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import amqp from 'amqplib';
import { MongoClient } from 'mongodb';
import { resolveProxyConfig, startProxy } from '../../capture/proxy';
import { deleteTopology } from '../../runtime/bus/topology';
import type { Logger } from '../../core/logger';
import { connectMongoStore } from '../../runtime/store/mongo';
import { eachComparison } from '../../runtime/store/store';
import { openBackends, type RunningService, settleExchanges, startService } from './shop';
import { driveTraffic } from './traffic';

export interface SoakOptions {
  amqpUrl: string;
  mongodbUrl: string;
  /** How long the mirrored load runs. */
  seconds: number;
  concurrency: number;
  workers: number;
  partnerLatencyMs: number;
  /** Queue, exchange and database names of this soak only. */
  prefix: string;
  logger: Logger;
  onSample?: (s: SoakSample) => void;
}

export interface SoakSample {
  at: number;
  sent: number;
  compared: number;
  /** Resident memory of each worker process, MB. */
  workerRssMb: number[];
}

export interface Latency {
  requests: number;
  p50: number;
  p99: number;
  /** Answers by status; `0`: none came. */
  statuses: Record<string, number>;
}

export interface SoakResult {
  runId: string;
  seconds: number;
  throughput: number;
  /** The soak's own requests, all through the proxy, every one mirrored. */
  load: Latency;
  /**
   * The primary path without and with shadowdiff, at the same moments: a probe reads one order
   * from legacy directly and through the proxy, in alternation, all through the soak.
   */
  without: Latency;
  through: Latency;
  mirrored: number;
  compared: number;
  /** Mirrored requests with no comparison after the wait. */
  lost: number;
  /** Comparisons stored more than once for one request. */
  duplicated: number;
  incomplete: number;
  records: { sent: number; dropped: number; exchangesDropped: number };
  samples: SoakSample[];
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const root = repositoryRoot();
  const runId = `soak-${o.prefix}`;
  const shopDb = `${o.prefix}_shop`;
  const resultsDb = `${o.prefix}_results`;
  const stop: (() => Promise<unknown>)[] = [];
  const workers: ChildProcess[] = [];
  try {
    const backends = await openBackends({ mongodbUrl: o.mongodbUrl, amqpUrl: o.amqpUrl, dbName: shopDb, seed: true });
    stop.push(() => backends.close());
    const services: RunningService[] = [];
    for (const side of ['legacy', 'candidate'] as const) {
      const s = await startService(side, { backends, sink: o.amqpUrl, sdk: { prefix: o.prefix }, partnerLatencyMs: o.partnerLatencyMs, logger: o.logger });
      services.push(s);
      stop.push(() => s.close());
    }
    const [legacy, candidate] = services as [RunningService, RunningService];
    const env = { ...process.env, AMQP_URL: o.amqpUrl, MONGODB_URL: o.mongodbUrl, SHADOWDIFF_PREFIX: o.prefix, SHADOWDIFF_DB: resultsDb, SHOP_DB: shopDb };
    for (let i = 0; i < o.workers; i++) {
      const w = spawn(process.execPath, [join(root, 'bin/shadowdiff.js'), 'worker', '--rules', join(root, 'dist/examples/orders/rules.js'), '--timeout-ms', '10000', '--log-level', 'warn'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      workers.push(w);
    }
    stop.push(() => Promise.all(workers.map((w) => stopProcess(w))));
    const proxy = await startProxy(resolveProxyConfig({ listen: '127.0.0.1:0', legacy: legacy.url, candidate: candidate.url, run: runId, sink: o.amqpUrl, prefix: o.prefix, sampling: { percent: 100 }, logLevel: 'warn' }), { logger: o.logger, defaultMetrics: false });
    stop.push(() => proxy.close());
    const store = await connectMongoStore({ url: o.mongodbUrl, dbName: resultsDb, logger: o.logger });
    stop.push(() => store.close());

    // The probe: one order, read straight from legacy and through the proxy in turn.
    const probeOrder = await createProbeOrder(legacy.url, o.prefix);
    const probe = { without: [] as number[], through: [] as number[], statuses: {} as Record<string, number> };
    let probing = true;
    const probeLoop = (async () => {
      for (let round = 0; probing; round++) {
        // Which goes first alternates: the second read of the same order finds it warmer.
        const pair = [[legacy.url, probe.without], [proxy.url, probe.through]] as const;
        for (const [url, into] of round % 2 ? [pair[1], pair[0]] : pair) {
          const t = performance.now();
          const res = await fetch(`${url}/orders/${probeOrder}`).catch(() => undefined);
          await res?.arrayBuffer();
          into.push(performance.now() - t);
          probe.statuses[res?.status ?? 0] = (probe.statuses[res?.status ?? 0] ?? 0) + 1;
        }
        await sleep(50);
      }
    })();

    // Through the proxy, every request mirrored, for the soak's duration.
    const samples: SoakSample[] = [];
    let sent = 0;
    const started = Date.now();
    const sampler = setInterval(() => {
      void store.countComparisons(runId).then((compared) => {
        const s = { at: Math.round((Date.now() - started) / 1000), sent, compared, workerRssMb: workers.map(rssMb) };
        samples.push(s);
        o.onSample?.(s);
      });
    }, Math.min(10_000, Math.max(1_000, (o.seconds * 1000) / 10)));
    let load: Latency;
    try {
      load = await timedLoad(proxy.url, o.seconds, o.concurrency, 2, `${o.prefix}-soak`, (n) => (sent = n));
    } finally {
      clearInterval(sampler);
      probing = false;
      await probeLoop;
    }

    // The accounting: every exchange the proxy recorded is a mirrored request; wait for its comparison.
    await settleExchanges(proxy);
    for (const s of services) await s.shadow.flush(10_000);
    const exchanges = proxy.stats().exchanges!;
    const mirrored = exchanges.sent;
    const waitUntil = Date.now() + 30_000;
    let compared = await store.countComparisons(runId);
    while (compared < mirrored && Date.now() < waitUntil) {
      await sleep(250);
      compared = await store.countComparisons(runId);
    }
    const distinct = new Set<string>();
    let incomplete = 0;
    let stored = 0;
    for await (const c of eachComparison(store, { runId }, 5_000)) {
      stored += 1;
      distinct.add(c.shadowId);
      if (c.verdict === 'incomplete') incomplete += 1;
    }
    const sdk = services.map((s) => s.shadow.stats());
    return {
      runId,
      seconds: o.seconds,
      throughput: load.requests / o.seconds,
      load,
      without: percentiles(probe.without, probe.statuses),
      through: percentiles(probe.through, probe.statuses),
      mirrored,
      compared: distinct.size,
      lost: Math.max(0, mirrored - distinct.size),
      duplicated: stored - distinct.size,
      incomplete,
      records: { sent: sdk.reduce((n, s) => n + s.sent, 0), dropped: sdk.reduce((n, s) => n + s.dropped, 0), exchangesDropped: exchanges.dropped },
      samples,
    };
  } finally {
    for (const f of stop.reverse()) await f().catch((err: Error) => o.logger.warn({ err: err.message }, 'soak: stopping a part failed'));
    await removeTraces(o, [shopDb, resultsDb]).catch((err: Error) => o.logger.warn({ err: err.message }, 'soak: could not remove its databases and queues'));
  }
}

/** Drops the soak's databases and its queues and exchanges: a soak leaves nothing behind. */
async function removeTraces(o: SoakOptions, databases: string[]): Promise<void> {
  const client = await MongoClient.connect(o.mongodbUrl, { serverSelectionTimeoutMS: 5_000 });
  try {
    for (const db of databases) await client.db(db).dropDatabase();
  } finally {
    await client.close();
  }
  const connection = await amqp.connect(o.amqpUrl);
  try {
    await deleteTopology(connection, o.prefix, 16);
  } finally {
    await connection.close();
  }
}

/** The load for `seconds`, closed-loop at `concurrency`; latency percentiles of every answer. */
async function timedLoad(url: string, seconds: number, concurrency: number, seed: number, tag: string, onRequest?: (n: number) => void): Promise<Latency> {
  const ms: number[] = [];
  const statuses: Record<string, number> = {};
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), seconds * 1000);
  try {
    await driveTraffic({ baseUrl: url, requests: Number.MAX_SAFE_INTEGER, concurrency, seed, tag, signal: stop.signal, ...(onRequest ? { onRequest } : {}), onResponse: (status, t) => {
      // A request cut by the end of the phase is not an answer.
      if (stop.signal.aborted && status === 0) return;
      statuses[status] = (statuses[status] ?? 0) + 1;
      ms.push(t);
    } });
  } finally {
    clearTimeout(timer);
  }
  return percentiles(ms, statuses);
}

function percentiles(ms: number[], statuses: Record<string, number>): Latency {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0);
  return { requests: sorted.length, p50: at(0.5), p99: at(0.99), statuses };
}

/** An order created straight at legacy (no shadow headers: nothing recorded), for the probe to read. */
async function createProbeOrder(legacyUrl: string, tag: string): Promise<string> {
  const res = await fetch(`${legacyUrl}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ checkoutId: `${tag}-probe`, customerId: 'C-0001', items: [{ sku: 'TEE-BLK', qty: 1 }], delivery: 'standard', address: { zip: '04524', line1: '1 Probe-ro' } }) });
  if (res.status !== 201) throw new Error(`the probe order was not created: legacy answered ${res.status} ${await res.text()}`);
  return ((await res.json()) as { orderNo: string }).orderNo;
}

function rssMb(p: ChildProcess): number {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : 0;
  } catch {
    return 0; // not Linux, or gone
  }
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Where bin/shadowdiff.js is: this file runs from examples/ (tests) and from dist/examples/. */
function repositoryRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) if (existsSync(join(dir, 'bin/shadowdiff.js')) && existsSync(join(dir, 'package.json'))) return dir;
  throw new Error('cannot find the shadowdiff package (bin/shadowdiff.js) above this file');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
