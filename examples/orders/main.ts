// The example services and the traffic generator as processes of their own (docker compose):
//   node dist/examples/orders/main.js legacy|candidate|traffic
// Settings from the environment:
//   legacy, candidate: PORT (8080), MONGODB_URL, AMQP_URL (events), SHADOWDIFF_SINK (where the SDK
//     sends effects: amqp://… or http://…; with SHADOWDIFF_PREFIX, SHADOWDIFF_PARTITIONS and
//     SHADOWDIFF_REDACT_SECRET as in docs/sdk.md), SHOP_DB (shop), PARTNER_LATENCY_MS (100). Legacy seeds
//     the shop database when it has no products.
//   traffic: TRAFFIC_URL (the proxy), TRAFFIC_CONCURRENCY (4), TRAFFIC_PAUSE_MS between rounds of
//     TRAFFIC_ROUND requests (1000, 200), TRAFFIC_REQUESTS (0: forever).
import { sdkOptionsFromEnv } from '../../capture/sdk';
import { createLogger } from '../../core/logger';
import { seedShop } from './catalog';
import { openBackends, startService } from './shop';
import { driveTraffic } from './traffic';

const env = process.env;
const log = createLogger({ level: env.LOG_LEVEL ?? 'info' });

function required(name: string): string {
  const v = env[name];
  if (!v) {
    log.fatal(`${name} is not set: see the settings at the top of examples/orders/main.ts`);
    process.exit(2);
  }
  return v;
}

function int(name: string, fallback: number): number {
  const v = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
  if (!Number.isInteger(v) || v < 0) {
    log.fatal(`${name} must be a whole number ≥ 0, not "${env[name]}"`);
    process.exit(2);
  }
  return v;
}

async function service(side: 'legacy' | 'candidate'): Promise<void> {
  const dbName = env.SHOP_DB || 'shop';
  const backends = await openBackends({ mongodbUrl: required('MONGODB_URL'), amqpUrl: required('AMQP_URL'), dbName, seed: false });
  if (side === 'legacy' && (await backends.db.collection('products').countDocuments({})) === 0) {
    await seedShop(backends.db);
    log.info({ dbName }, 'seeded the shop database');
  }
  const s = await startService(side, { backends, sink: required('SHADOWDIFF_SINK'), sdk: sdkOptionsFromEnv(env), partnerLatencyMs: int('PARTNER_LATENCY_MS', 100), logger: log, host: '0.0.0.0', port: int('PORT', 8080) });
  log.info({ side, url: s.url }, `${side} order service listening`);
  await stopped();
  await s.close();
  await backends.close();
}

async function traffic(): Promise<void> {
  const baseUrl = required('TRAFFIC_URL');
  const total = int('TRAFFIC_REQUESTS', 0);
  const round = Math.max(1, int('TRAFFIC_ROUND', 200));
  const stop = new AbortController();
  void stopped().then(() => stop.abort());
  let sent = 0;
  for (let seed = 1; !stop.signal.aborted && (total === 0 || sent < total); seed += 1) {
    const r = await driveTraffic({ baseUrl, requests: total === 0 ? round : Math.min(round, total - sent), concurrency: int('TRAFFIC_CONCURRENCY', 4), seed, tag: `${Date.now().toString(36)}`, signal: stop.signal });
    sent += r.sent;
    log.info({ sent, statuses: r.statuses, ms: r.ms }, 'traffic round done');
    await new Promise((resolve) => setTimeout(resolve, int('TRAFFIC_PAUSE_MS', 1000)));
  }
}

function stopped(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
}

const what = process.argv[2];
const main = what === 'legacy' || what === 'candidate' ? service(what) : what === 'traffic' ? traffic() : undefined;
if (!main) {
  process.stderr.write('usage: node dist/examples/orders/main.js legacy|candidate|traffic (settings: see examples/orders/main.ts)\n');
  process.exit(2);
}
main.catch((err: Error) => {
  log.fatal({ err: err.message }, 'stopped');
  process.exit(1);
});
