// `shadowdiff demo` headless: the example services behind the proxy, compared with the example
// rules, with no latency on the partners (legacy and the candidate race for the database). Every seeded bug must be reported on its route and field path, nothing else (noise is
// ruled out, consequences of a bug belong to it), and the routes without a bug must be ready —
// on the embedded runtime through the CLI, and on RabbitMQ and the MongoDB-wire server.
import { run } from '../../../cli/main';
import { resolveConfig } from '../../../core/config';
import { createLogger } from '../../../core/logger';
import { CLEAN_ROUTES, SEEDED_BUGS } from '../../../examples/orders/bugs';
import { type DemoResult, runDemo } from '../../../examples/orders/demo';
import { AMQP_URL, connectMongo, connectRabbit, MONGODB_URL, removeTraces, uniqueDbName } from '../../helpers/services';
import { fakeIo } from '../../helpers/cli';

jest.setTimeout(120_000);

// Timestamps, generated ids, the PG's answer, and the fields of the rewrite's own schema.
const NOISE = /(^|\.)(createdAt|updatedAt|paidAt|eventId|occurredAt|approvalNo|_id|schemaVersion|buyer|shipTo|state|pg)(\.|\[|$)|^(amounts|lines|order|type|title|quantity|cancelled)(\.|\[|$)/;

function expectFindings(d: Pick<DemoResult, 'bugs' | 'unexplained' | 'result' | 'mirrored' | 'traffic'>) {
  expect(d.traffic.sent).toBe(d.mirrored);
  expect(d.result.compared).toBe(d.mirrored);
  for (const { bug, finding } of d.bugs) {
    expect({ bug: bug.id, found: finding !== undefined }).toEqual({ bug: bug.id, found: true });
    expect(finding!.route).toBe(bug.route);
    expect(finding!.field).toBe(bug.field);
  }
  // Whom each bug hurts: exactly the consumers that read its field.
  expect(d.bugs.map((b) => [b.bug.id, b.hurts.direct])).toEqual(SEEDED_BUGS.map((b) => [b.id, b.hurts]));
  expect(d.unexplained).toEqual([]);
  const groups = d.result.routes.flatMap((r) => r.findings);
  expect(groups.filter((g) => NOISE.test(g.field))).toEqual([]);
  for (const route of CLEAN_ROUTES) {
    const r = d.result.routes.find((x) => x.route === route);
    expect({ route, readiness: r?.readiness, mismatch: r?.mismatch }).toEqual({ route, readiness: 'ready', mismatch: 0 });
  }
  for (const bug of SEEDED_BUGS) expect(d.result.routes.find((x) => x.route === bug.route)?.readiness).toBe('not ready');
  expect(d.result.routes.reduce((n, r) => n + r.incomplete + r.inconclusive + r.error, 0)).toBe(0);
}

it('the demo on the embedded runtime names every seeded bug by route and path, and nothing else', async () => {
  const { io, out, err } = fakeIo();
  const code = await run(['demo', '--requests', '400', '--no-serve', '--no-progress', '--partner-latency-ms', '0'], io);
  const text = out.join('\n');
  expect({ code, err: err.filter((l) => !l.startsWith('demo: ')) }).toEqual({ code: 0, err: [] });
  expect(text).toMatch(/embedded pipeline; the services' data in memory/);
  expect(text).toMatch(/400 requests sent through the proxy in [\d.]+ s, 400 mirrored to the candidate, 400 compared/);
  for (const bug of SEEDED_BUGS) expect(text).toContain(`✔ ${bug.title}\n      ${bug.route}  ${bug.target}  ${bug.field}  in `);
  expect(text).toMatch(/delivery\.guaranteedBy .*\n +hurts delivery-guarantee \(delivery team\)/);
  expect(text).toMatch(/order\.cancelled +refundAmount .*\n +hurts settlement \(finance: settlement\)/);
  expect(text).toMatch(/status .*\n +no declared consumer reads this field/);
  expect(text).toMatch(/Readiness per consumer[^\n]*\n +delivery-guarantee +NOT READY/);
  for (const route of CLEAN_ROUTES) expect(text).toMatch(new RegExp(`${route.replace(/[/:]/g, '\\$&')} +\\d+ compared +0 mismatch \\(0\\.0%\\) +READY`));
  expect(text).not.toContain('NOT FOUND');
  expect(text).not.toContain('Other differences');
});

it('the same scenario with a report server: the printed run is served with its findings', async () => {
  const demo = await runDemo({ config: resolveConfig({}), requests: 250, concurrency: 8, seed: 3, serve: { host: '127.0.0.1', port: 0 }, partnerLatencyMs: 0, shopDb: 'unused', logger: createLogger({ level: 'silent' }) });
  try {
    expectFindings(demo);
    const page = await fetch(`${demo.reportUrl!}/differences`);
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const bug of SEEDED_BUGS) expect(html).toContain(bug.field);
    expect(html).toMatch(/read by <a href="\/runs\/[^"]+\/consumers\/delivery-guarantee">delivery-guarantee<\/a>/);
    // The delivery team's own page: its field, the difference on it, and its readiness.
    const own = await (await fetch(`${demo.reportUrl!}/consumers/delivery-guarantee`)).text();
    expect(own).toContain('delivery.*');
    expect(own).toContain('delivery.guaranteedBy');
    expect(own).toMatch(/badge not-ready/);
    const checklist = await (await fetch(`${demo.reportUrl!.replace('/runs/', '/api/runs/')}/checklist`)).text();
    expect(checklist).toMatch(/### delivery-guarantee: not ready/);
    expect(checklist).toMatch(/- \[ \] delivery team has reviewed/);
    expect((await fetch(`${demo.reportUrl!}/consumers/nobody`)).status).toBe(404);
    const api = (await (await fetch(demo.reportUrl!.replace('/runs/', '/api/runs/'))).json()) as { routes: { route: string; readiness: string }[] };
    for (const route of CLEAN_ROUTES) expect(api.routes.find((r) => r.route === route)?.readiness).toBe('ready');
  } finally {
    await demo.close();
  }
});

it('the same scenario on RabbitMQ and the MongoDB-wire server gives the same findings', async () => {
  // Fail with what to start, not with a timeout, when a service is missing.
  await (await connectRabbit()).close();
  await (await connectMongo()).close();
  const prefix = uniqueDbName('demo');
  try {
    const demo = await runDemo({
      config: resolveConfig({ amqpUrl: AMQP_URL, mongodbUrl: MONGODB_URL, prefix, database: `${prefix}_results`, partitions: 4 }),
      requests: 300,
      concurrency: 6,
      seed: 1,
      serve: undefined,
      // No head start for the candidate: the pre-state handoff makes the interleaving irrelevant.
      partnerLatencyMs: 0,
      shopDb: `${prefix}_shop`,
      logger: createLogger({ level: 'warn' }),
    });
    expect(demo.runtime).toBe('distributed');
    expect(demo.backends).toBe('mongodb+rabbitmq');
    expectFindings(demo);
    for (const { bug, finding } of demo.bugs) expect(finding!.target).toBe(bug.target.startsWith('shop.') ? bug.target.replace('shop.', `${prefix}_shop.`) : bug.target);
  } finally {
    await removeTraces(prefix, 4, [`${prefix}_shop`, `${prefix}_results`]);
  }
});
