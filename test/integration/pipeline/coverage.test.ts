// Coverage reaches the store (design decision 12): a proxy in front of a hanging candidate
// mirrors almost nothing, and the run must say so — in the store, on the report's run page and
// in `shadowdiff report` — rather than list no run, or a few comparisons that all look fine.
// End to end: proxy → RabbitMQ → worker → MongoDB.
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { resolveProxyConfig, startProxy } from '../../../capture/proxy';
import { run } from '../../../cli/main';
import { Worker } from '../../../pipeline/worker';
import { reportApp } from '../../../report/server';
import { connectAmqpBus } from '../../../runtime/bus/amqp';
import { connectMongoStore } from '../../../runtime/store/mongo';
import { fakeIo } from '../../helpers/cli';
import { echo, eventually, httpServer, load, quiet } from '../../helpers/proxy';
import { AMQP_URL, connectRabbit, MONGODB_URL, removeTraces, uniqueDbName } from '../../helpers/services';

jest.setTimeout(60_000);

it('a proxy in front of a hanging candidate: the run is listed, with what was seen, mirrored, and why the rest was not', async () => {
  await (await connectRabbit()).close();
  const prefix = uniqueDbName('coverage');
  const dbName = `${prefix}_results`;
  const bus = await connectAmqpBus({ url: AMQP_URL, logger: quiet, prefix, partitions: 2 });
  const store = await connectMongoStore({ url: MONGODB_URL, logger: quiet, dbName });
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 20, timeoutMs: 3_000, alerts: false });
  await worker.start();
  const legacy = await httpServer(echo('legacy'));
  // Accepts connections and never answers.
  const sockets = new Set<Socket>();
  const hanging = createServer((s) => void sockets.add(s.on('error', () => {})));
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const proxy = await startProxy(
    resolveProxyConfig({ listen: '127.0.0.1:0', legacy: legacy.url, candidate: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`, run: 'cov-run', sink: AMQP_URL, prefix, partitions: 2, sdk: false, mirror: { timeoutMs: 300, breakerFailures: 3, breakerOpenMs: 60_000 }, logLevel: 'silent' }),
    { logger: quiet, defaultMetrics: false, coverageMs: 100 },
  );
  let report: Server | undefined;
  try {
    // A first wave whose mirrors time out and open the circuit; the rest come while it is open.
    const first = await load(proxy.url, 20, 4);
    await new Promise((r) => setTimeout(r, 600));
    const rest = await load(proxy.url, 180, 4);
    expect([...first.statuses, ...rest.statuses]).toEqual([
      [200, 20],
      [200, 180],
    ]); // the primary is untouched
    // While traffic flows, totals arrive every coverageMs; the last ones when the proxy stops.
    await eventually(async () => ((await store.getRun('cov-run'))?.proxies !== undefined), 10_000, 'the first coverage totals');
    await proxy.close();
    await eventually(async () => Object.values((await store.getRun('cov-run'))?.proxies ?? {}).some((p) => p.seen === 200), 10_000, 'the final totals');
    const info = (await store.getRun('cov-run'))!;
    const [totals] = Object.values(info.proxies!);
    // Every request accounted for: mirrored until the circuit opened, the rest skipped for it.
    const skipped = totals!.notMirrored['circuit-open'] ?? 0;
    expect(skipped).toBeGreaterThan(0);
    expect(totals!.mirrored + skipped).toBe(200);
    expect(totals!.dropped).toBe(0);
    expect((await store.listRuns()).map((r) => r.runId)).toContain('cov-run');
    await eventually(async () => (await store.countComparisons('cov-run')) === totals!.mirrored, 15_000, 'every mirrored request compared');
    const line = `proxy: 200 request(s) seen, ${totals!.mirrored} mirrored (${((totals!.mirrored / 200) * 100).toFixed(1)}%); not mirrored: circuit-open ${skipped}`;

    // The report's run page says it, for people.
    report = reportApp({ store, logger: quiet }).listen(0, '127.0.0.1');
    await new Promise((r) => report!.once('listening', r));
    const page = await (await fetch(`http://127.0.0.1:${(report.address() as AddressInfo).port}/runs/cov-run`)).text();
    expect(page).toContain(line);
    // And `shadowdiff report`: the few compared of 200 meant to be is not ready, whatever they say.
    const cli = fakeIo({ env: { MONGODB_URL, SHADOWDIFF_DB: dbName } });
    expect(await run(['report', '--run', 'cov-run', '--min-requests', '0'], cli.io)).toBe(1);
    const out = cli.out.join('\n');
    expect(out).toMatch(/coverage 0\.0% of 200 requests compared completely/);
    expect(out).toContain(line);
  } finally {
    report?.close();
    await proxy.close().catch(() => undefined);
    for (const s of sockets) s.destroy();
    hanging.close();
    await legacy.close();
    await worker.stop();
    await store.close();
    await bus.close();
    await removeTraces(prefix, 2, [dbName]);
  }
});
