// `shadowdiff consumers discover` against the real RabbitMQ's management API: the queues bound
// to an exchange the services publish to, and the applications connected to consume them,
// become a consumers file that loads as it is; a MongoDB-wire server that shows no reader says
// so. And `consumers check` on what it wrote.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { run } from '../../../cli/main';
import { loadConsumersFile } from '../../../cli/rules-file';
import type { ConsumerInput } from '../../../compare/engine';
import { fakeIo } from '../../helpers/cli';
import { AMQP_MANAGEMENT_URL, AMQP_URL, connectRabbit, managementReady, MONGODB_URL, uniqueDbName } from '../../helpers/services';

jest.setTimeout(90_000);

const tag = uniqueDbName('disc').replace(/_/g, '-');
const exchange = `${tag}.orders`;
const models: amqp.ChannelModel[] = [];

beforeAll(async () => {
  await managementReady();
  const admin = await connectRabbit();
  models.push(admin);
  const ch = await admin.createChannel();
  await ch.assertExchange(exchange, 'topic', { durable: false, autoDelete: false });
  const queues: [string, string[]][] = [
    [`${tag}.settlement`, ['order.paid', 'order.cancelled']],
    [`${tag}.analytics`, ['order.#']],
    [`${tag}.idle`, ['order.created']],
  ];
  for (const [q, keys] of queues) {
    await ch.assertQueue(q, { durable: false, autoDelete: false });
    for (const k of keys) await ch.bindQueue(q, exchange, k);
  }
  // Two applications consuming as services do, each naming its connection.
  for (const [app, queue] of [['settlement-svc', `${tag}.settlement`], ['analytics-svc', `${tag}.analytics`]] as const) {
    const m = await amqp.connect(AMQP_URL, { clientProperties: { connection_name: app } });
    models.push(m);
    await (await m.createChannel()).consume(queue, () => undefined);
  }
});

afterAll(async () => {
  const ch = await models[0]!.createChannel();
  for (const q of ['settlement', 'analytics', 'idle']) await ch.deleteQueue(`${tag}.${q}`).catch(() => undefined);
  await ch.deleteExchange(exchange).catch(() => undefined);
  for (const m of models.reverse()) await m.close().catch(() => undefined);
});

async function discover(file: string) {
  const f = fakeIo();
  const code = await run(['consumers', 'discover', '--amqp-management', AMQP_MANAGEMENT_URL, '--exchange', exchange, '--out', file], f.io);
  return { code: code ?? f.code(), err: f.err };
}

it('proposes who consumes each routing key today, as a consumers file that loads as it is', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'discover-')), 'consumers.json');
  // The management API learns of new consumers within its statistics interval (5 s by default).
  let found: ConsumerInput[] = [];
  const deadline = Date.now() + 30_000;
  let last: Awaited<ReturnType<typeof discover>> | undefined;
  while (Date.now() < deadline) {
    last = await discover(file);
    expect(last.code).toBe(0);
    found = (JSON.parse(readFileSync(file, 'utf8')) as { consumers: ConsumerInput[] }).consumers;
    if (found.some((c) => c.name === 'settlement-svc') && found.some((c) => c.name === 'analytics-svc')) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const byName = Object.fromEntries(found.map((c) => [c.name, c]));
  expect(Object.keys(byName).sort()).toEqual(['analytics-svc', `${tag}.idle`, 'settlement-svc']);
  expect(byName['settlement-svc']!.reads).toEqual([
    { target: `${exchange}/order.cancelled`, kind: 'message' },
    { target: `${exchange}/order.paid`, kind: 'message' },
  ]);
  // A topic binding's `#` reads every key under it.
  expect(byName['analytics-svc']!.reads).toEqual([{ target: `${exchange}/order.*`, kind: 'message' }]);
  expect(byName['settlement-svc']!.note).toMatch(new RegExp(`queue\\(s\\) ${tag}\\.settlement; consumed from 127\\.0\\.0\\.1 as guest`));
  expect(byName[`${tag}.idle`]).toMatchObject({ reads: [{ target: `${exchange}/order.created`, kind: 'message' }], owner: `unknown: whoever consumes queue ${tag}.idle` });
  expect(byName[`${tag}.idle`]!.note).toContain('no consumer connected when discovered');
  expect(last!.err.join('\n')).toMatch(/1 exchange\(s\) \(.*\), 4 binding\(s\) to 3 queue\(s\): 3 consumer\(s\) proposed/);
  expect(last!.err.join('\n')).toMatch(/cannot see: RabbitMQ: a binding shows which routing keys reach a queue, not which fields/);
  // It loads as written, and `consumers check` agrees.
  expect(await loadConsumersFile(file)).toHaveLength(3);
  const check = fakeIo();
  expect(await run(['consumers', 'check', file], check.io)).toBe(0);
  expect(check.out.join('\n')).toMatch(/settlement-svc \(unknown: the team running settlement-svc\):\n {2}.*order\.cancelled \[message\]: \(whole effect\)/);
});

it('says what was wrong: an unknown exchange, bad credentials, no management API, no source', async () => {
  const cases: [string[], RegExp][] = [
    [['--amqp-management', AMQP_MANAGEMENT_URL, '--exchange', `${tag}.nope`], new RegExp(`exchange "${tag}\\.nope" does not exist on .*; it has: .*${exchange.replace(/\./g, '\\.')}`)],
    [['--amqp-management', AMQP_MANAGEMENT_URL.replace(/\/\/[^@]*@/, '//guest:wrong@')], /refused the credentials \(401\)/],
    [['--amqp-management', 'http://127.0.0.1:1'], /not reachable at http:\/\/127\.0\.0\.1:1.*rabbitmq-plugins enable rabbitmq_management/],
    [['--amqp-management', 'amqp://127.0.0.1:5672'], /needs the management plugin's http\(s\) URL/],
    [[], /needs a source: --amqp-management URL/],
    [['--mongodb', MONGODB_URL], /--mongodb needs --db/],
  ];
  for (const [args, message] of cases) {
    const f = fakeIo();
    const code = await run(['consumers', 'discover', ...args], f.io);
    expect({ args, code, err: f.err.join('\n') }).toEqual({ args, code: 2, err: expect.stringMatching(message) });
  }
});

it('on a MongoDB-wire server without a profiler or $currentOp it proposes no reader and says what it could not see', async () => {
  const f = fakeIo();
  const code = await run(['consumers', 'discover', '--mongodb', MONGODB_URL, '--db', 'shop', '--sample-seconds', '0'], f.io);
  expect(code).toBe(0);
  expect(JSON.parse(f.out.join('\n'))).toEqual({ version: 1, consumers: [] });
  const err = f.err.join('\n');
  // FerretDB has neither; a real MongoDB with the profiler off says "off … shadowdiff never changes it".
  expect(err).toMatch(/profiler (not available: .+|off on shop .*never changes it)/);
  expect(err).toMatch(/cannot see: MongoDB: a read is seen only while/);
});
