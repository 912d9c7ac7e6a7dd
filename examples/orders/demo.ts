// `shadowdiff demo`: the whole harness in one process. Legacy and candidate order services with
// the SDK, the capture proxy in front of legacy mirroring every request, a comparator worker with
// the example rules, the store, and the web report. Embedded bus and store unless AMQP_URL /
// MONGODB_URL say otherwise (then the services use that MongoDB and RabbitMQ as well). Traffic
// goes through the proxy; when it is compared, the run is evaluated and every finding is named —
// by the seeded bug it exposes, or as unexplained.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startProxy, resolveProxyConfig, type RunningProxy } from '../../capture/proxy';
import { busSink } from '../../capture/sdk/sinks';
import { compileRules } from '../../compare/engine';
import { withConsumerImpact } from '../../compare/consumer-readiness';
import { Worker } from '../../pipeline/worker';
import type { PipelineConfig } from '../../core/config';
import { ShadowdiffError } from '../../core/errors';
import { componentLogger, type Logger } from '../../core/logger';
import { Evaluator, type FindingGroup, type Gates, type ReplayResult } from '../../compare/readiness';
import { reportApp } from '../../report/server';
import { createRuntime, type Runtime } from '../../runtime';
import { MemoryHandoff } from '../../runtime/handoff/memory';
import { eachComparison } from '../../runtime/store/store';
import { inDatabase, type SeededBug, SEEDED_BUGS } from './bugs';
import { openBackends, type RunningService, settleExchanges, type ShopBackends, startService } from './shop';
import { driveTraffic, type TrafficSummary } from './traffic';
import { rulesFor } from './rules';
import { randomBytes } from 'node:crypto';
import type { AuditEntry } from '../../capture/proxy/cutover';
import { parsePlan, type Plan, type PlanOutcome, runPlan } from '../../pipeline/cutover-plan';
import { type Correction, type CorrectHook, correctionsFor } from '../../compare/corrections';
import type { Comparison } from '../../compare/engine';
import { Guard } from '../../pipeline/worker/guard';
import { connectAmqpControl } from '../../runtime/bus/amqp/control';
import { memoryControl } from '../../runtime/bus/control';

export interface DemoOptions {
  config: PipelineConfig;
  requests: number;
  concurrency: number;
  seed: number;
  /** Where the report listens; undefined: no report server. */
  serve?: { host: string; port: number } | undefined;
  /** How long the simulated partners take to answer the legacy service. */
  partnerLatencyMs: number;
  /** The shop's database name on MongoDB (emptied and seeded); in memory it is `shop`. */
  shopDb: string;
  logger: Logger;
  onPhase?: (phase: string) => void;
  onTraffic?: (sent: number) => void;
  signal?: AbortSignal;
  /**
   * Cutover (docs/cutover.md): a plan ramps POST /orders live to the candidate (5%, 20%, 50%,
   * 100%) while the traffic runs; the candidate carries the coupon-rounding bug only, keeps both
   * schemas, and the guard rolls the ramp back at its first wrong order.
   */
  cutover?: boolean;
  /** The ramp plan of a cutover (default DEMO_PLAN). */
  plan?: Plan;
}

/** What the cutover did (demo --cutover). */
export interface CutoverSummary {
  outcome: PlanOutcome;
  /** The shares the ramp reached, in order. */
  steps: number[];
  /** Why a gate held the ramp, each time one did. */
  holds: string[];
  /** The guard's rollback, as the proxy's audit trail has it. */
  rollback?: AuditEntry;
  /** From the first order the candidate served wrong to the proxy holding the share at 0. */
  detectedMs?: number;
  servedLive: number;
  servedWrong: number;
  /** Served live by the candidate after the rollback (should be none). */
  servedAfter: number;
  corrections: Correction[];
}

/** A seeded bug and the finding group that shows it (none: not found). */
export interface BugReport {
  bug: SeededBug;
  finding: FindingGroup | undefined;
  /** The declared consumers that read the bug's field, and those that read what it changes with it. */
  hurts: { direct: string[]; through: string[] };
}

export interface DemoResult {
  runId: string;
  runtime: Runtime['kind'];
  backends: ShopBackends['kind'];
  traffic: TrafficSummary;
  mirrored: number;
  result: ReplayResult;
  bugs: BugReport[];
  /** Findings no seeded bug explains. */
  unexplained: FindingGroup[];
  reportUrl?: string;
  cutover?: CutoverSummary;
  /** The example services' database (closed with the rest). */
  shop: ShopBackends['db'];
  /** Stops the report server and everything else. */
  close(): Promise<void>;
}

/** The demo's readiness gates: a route needs 10 complete comparisons, all matching. */
export const DEMO_GATES: Gates = { minRequests: 10, maxMismatchRate: 0, minCoverage: 0.95 };

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const log = o.logger;
  const stack: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of stack.reverse().splice(0)) await close().catch((err: Error) => log.warn({ err: err.message }, 'demo: stopping a part failed'));
  };
  try {
    const runId = `demo-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-')}`;
    const dbName = o.config.mongodbUrl ? o.shopDb : 'shop';
    const compiled = compileRules(rulesFor(dbName), 'examples/orders/rules.ts');
    o.onPhase?.('starting the pipeline');
    const runtime = await createRuntime(o.config, log);
    stack.push(() => runtime.close());
    await runtime.store.putRun({ runId, createdAt: new Date().toISOString(), source: 'demo', label: 'shadowdiff demo: example order services' });
    // Cutover: the guard's rollbacks reach the proxy on the control channel, in process or on RabbitMQ.
    const control = o.cutover ? (o.config.amqpUrl ? await connectAmqpControl({ url: o.config.amqpUrl, prefix: o.config.prefix, partitions: o.config.partitions, logger: log }) : memoryControl()) : undefined;
    if (control) stack.push(() => control.close());
    // The demo's guard acts on what the candidate serves wrong (its alerts would act on the mirrored mismatches first).
    // Its rollback and the proxy's are told by the summary; their logs stay quiet but for failures.
    const quietly = (name: string) => log.child({ component: name }, { level: log.levelVal <= 30 ? log.level : 'fatal' });
    const guard = control ? new Guard({ control, logger: quietly('guard'), alerts: false, record: (e) => runtime.store.putCutoverEvent(e) }) : undefined;
    if (guard) stack.push(async () => guard.close());
    const worker = new Worker({ bus: runtime.bus, store: runtime.store, logger: componentLogger(log, 'worker'), rules: compiled, settleMs: 150, timeoutMs: 5_000, keepEffects: 'non-match', alerts: false, guard });
    await worker.start();
    stack.push(() => worker.stop());

    o.onPhase?.('starting the example services');
    const backends = await openBackends({ mongodbUrl: o.config.mongodbUrl, amqpUrl: o.config.amqpUrl, dbName, seed: true });
    stack.push(() => backends.close());
    // Both services share one embedded pre-state handoff: the candidate rewinds legacy's writes of the same request.
    const handoff = new MemoryHandoff();
    stack.push(() => handoff.close());
    const services: RunningService[] = [];
    // Cutover: the proxy signs the mirrors' headers; the candidate serves live and keeps both schemas.
    const key = o.cutover ? randomBytes(24).toString('base64url') : undefined;
    for (const side of ['legacy', 'candidate'] as const) {
      const sdk = { handoff: { store: handoff }, ...(key ? { signing: { key } } : {}), ...(key && side === 'candidate' ? { mode: 'live' as const } : {}) };
      const service = o.cutover && side === 'candidate' ? { schema: 'both' as const, bugs: new Set(['coupon-rounding']) } : undefined;
      const s = await startService(side, { backends, sink: runtime.bus, sdk, ...(service ? { service } : {}), partnerLatencyMs: o.partnerLatencyMs, logger: componentLogger(log, side) });
      services.push(s);
      stack.push(() => s.close());
    }
    const [legacy, candidate] = services as [RunningService, RunningService];

    const proxy: RunningProxy = await startProxy(
      resolveProxyConfig({
        listen: '127.0.0.1:0',
        legacy: legacy.url,
        candidate: candidate.url,
        run: runId,
        sampling: { percent: 100 },
        partitions: o.config.partitions,
        prefix: o.config.prefix,
        drainMs: 2_000,
        ...(key ? { signing: { key }, cutover: { routes: [{ route: 'POST /orders', percent: 0 }] } } : {}),
      }),
      { logger: control ? quietly('proxy') : componentLogger(log, 'proxy'), sink: busSink(runtime.bus), defaultMetrics: false, ...(control ? { control } : {}) },
    );
    stack.push(() => proxy.close());

    // The ramp runs beside the traffic, until its end, the guard's rollback, or the traffic's end.
    let trafficDone: () => void = () => {};
    const ramp = o.cutover
      ? runPlan(o.plan ?? DEMO_PLAN, {
          read: async () => ({ runId, ...proxy.live.state }),
          set: async (percent, reason) => void proxy.live.set({ route: 'POST /orders', percent, reason, by: 'shadowdiff demo' }),
          store: runtime.store,
          log: (line) => o.onPhase?.(`cutover: ${line}`),
          by: 'shadowdiff demo',
          file: 'the demo plan',
          stopped: new Promise<void>((r) => (trafficDone = r)),
        })
      : undefined;
    o.onPhase?.(`sending ${o.requests} requests through the proxy`);
    const traffic = await driveTraffic({ baseUrl: proxy.url, requests: o.requests, concurrency: o.concurrency, seed: o.seed, tag: runId.slice(5), ...(o.onTraffic ? { onRequest: o.onTraffic } : {}), ...(o.signal ? { signal: o.signal } : {}) });
    trafficDone();
    const outcome = await ramp;

    o.onPhase?.('waiting for the comparisons');
    // Every mirrored request's exchange reaches the bus, then gets exactly one comparison.
    await settleExchanges(proxy);
    const recorded = proxy.stats().exchanges;
    const mirrored = (recorded?.sent ?? 0) + (recorded?.dropped ?? 0);
    const deadline = Date.now() + 20_000;
    while ((await runtime.store.countComparisons(runId)) < mirrored && Date.now() < deadline && !o.signal?.aborted) await sleep(100);
    await worker.drain();
    await runtime.store.flushRollups(runId);

    const evaluator = new Evaluator(runId);
    for await (const c of eachComparison(runtime.store, { runId })) evaluator.add(c);
    const evaluated = evaluator.result(mirrored, DEMO_GATES);
    const result = withConsumerImpact(evaluated, compiled.consumers.list);
    const groups = result.routes.flatMap((r) => r.findings);
    const bugs = SEEDED_BUGS.map((seeded) => {
      const bug = inDatabase(seeded, dbName);
      const finding = groups.find((g) => g.route === bug.route && g.target === bug.target && g.field === bug.field);
      const direct = finding?.consumers ?? [];
      const through = [...new Set(groups.filter((g) => g !== finding && consequenceOf(seeded, g, dbName)).flatMap((g) => g.consumers ?? []))].filter((n) => !direct.includes(n)).sort();
      return { bug, finding, hurts: { direct, through } };
    });
    const unexplained = groups.filter((g) => !explains(g, dbName));
    const cutover = outcome ? await cutoverSummary(runtime.store, runId, proxy, outcome, compiled.source.correct as CorrectHook | undefined) : undefined;

    let reportUrl: string | undefined;
    if (o.serve) {
      const app = reportApp({ store: runtime.store, logger: componentLogger(log, 'report'), rules: compiled, gates: DEMO_GATES });
      const server = await new Promise<Server>((resolve, reject) => {
        const s = app.listen(o.serve!.port, o.serve!.host, (err?: Error) => (err ? reject(err) : resolve(s)));
      }).catch((err: NodeJS.ErrnoException) => {
        throw new ShadowdiffError('SHADOWDIFF_USAGE', `the report cannot listen on ${o.serve!.host}:${o.serve!.port} (${err.code ?? err.message}): choose another --port, or --no-serve.`);
      });
      stack.push(async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });
      const a = server.address() as AddressInfo;
      reportUrl = `http://${a.address}:${a.port}/runs/${encodeURIComponent(runId)}`;
    } else {
      await closeAll();
    }
    return { runId, runtime: runtime.kind, backends: backends.kind, traffic, mirrored, result, bugs: o.cutover ? bugs.filter((b) => b.bug.id === 'coupon-rounding') : bugs, unexplained, ...(reportUrl ? { reportUrl } : {}), ...(cutover ? { cutover } : {}), shop: backends.db, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * The demo's ramp: POST /orders through 20%, 50% to 100%, each step a couple of seconds and 10
 * comparisons without a mismatch. The mirrored comparisons show the coupon bug from the start,
 * so the gate holds it at 20%, where the candidate soon serves an order wrong.
 */
export const DEMO_PLAN = parsePlan(
  {
    version: 1,
    route: 'POST /orders',
    pollSeconds: 0.25,
    steps: [
      { percent: 20, dwellSeconds: 2, gates: { minCompared: 10 } },
      { percent: 50, dwellSeconds: 2, gates: { minCompared: 10 } },
      { percent: 100, dwellSeconds: 0 },
    ],
  },
  'the demo plan',
);

/** What the ramp did: its steps, the rollback and how fast it came, what the candidate served, and what to correct. */
async function cutoverSummary(store: Runtime['store'], runId: string, proxy: RunningProxy, outcome: PlanOutcome, hook: CorrectHook | undefined): Promise<CutoverSummary> {
  const audit = proxy.live.audit();
  const rollback = audit.find((e) => e.action === 'rollback');
  const served: Comparison[] = [];
  for await (const c of eachComparison(store, { runId })) if (c.served === 'candidate') served.push(c);
  const wrong = served.filter((c) => c.verdict === 'mismatch' || c.verdict === 'error');
  const firstWrong = Math.min(...wrong.map((c) => uuidv7Time(c.shadowId)));
  const rolledAt = rollback ? Date.parse(rollback.at) : undefined;
  const records = wrong.length ? await store.getEffectsOf(runId, wrong.map((c) => c.shadowId)) : new Map();
  return {
    outcome,
    steps: audit.filter((e) => e.action === 'set').map((e) => e.to),
    holds: (await store.listCutoverEvents(runId)).filter((e) => e.kind === 'hold').map((e) => e.reason),
    ...(rollback ? { rollback } : {}),
    ...(rolledAt !== undefined && Number.isFinite(firstWrong) ? { detectedMs: rolledAt - firstWrong } : {}),
    servedLive: served.length,
    servedWrong: wrong.length,
    servedAfter: rolledAt === undefined ? 0 : served.filter((c) => uuidv7Time(c.shadowId) > rolledAt).length,
    corrections: correctionsFor(wrong.map((c) => ({ comparison: c, records: records.get(c.shadowId) ?? [] })), hook),
  };
}

/** When a UUIDv7 (the proxy's shadow ids) was made: its first 48 bits, in ms. */
function uuidv7Time(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}

/** Whether a finding group is one of a seeded bug's, or a consequence of one on the same route. */
export function explains(g: FindingGroup, db: string): boolean {
  const target = shopTarget(g, db);
  return SEEDED_BUGS.some((b) => b.route === g.route && ((b.target === target && b.field === g.field) || consequenceOf(b, g, db)));
}

/** Whether a finding group is something the bug changes besides its own field (the list names the database `shop`). */
function consequenceOf(b: SeededBug, g: FindingGroup, db: string): boolean {
  const target = shopTarget(g, db);
  return b.route === g.route && (CONSEQUENCES[b.id] ?? []).some(([t, field]) => t === target && field === g.field);
}

const shopTarget = (g: FindingGroup, db: string) => (g.target.startsWith(`${db}.`) ? `shop.${g.target.slice(db.length + 1)}` : g.target);

/**
 * What else a seeded bug changes in the same requests: a different coupon discount changes the
 * total (and with it the points that may be used and the shipping fee), the response and the
 * order.created event. The report groups these as one probable cause.
 */
const CONSEQUENCES: Record<string, [string, string][]> = {
  'coupon-rounding': [
    ['shop.orders', 'total'],
    ['shop.orders', 'pointsUsed'],
    ['shop.orders', 'shippingFee'],
    ['shop.orders', 'delivery.fee'],
    ['shop.customers', 'points'],
    ['response', 'body.amounts.couponDiscount'],
    ['response', 'body.amounts.total'],
    ['response', 'body.amounts.pointsUsed'],
    ['response', 'body.amounts.shippingFee'],
    ['response', 'body.delivery.fee'],
    ['demo.orders/order.created', 'total'],
  ],
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pct = (n: number, of: number) => (of === 0 ? '0%' : `${((100 * n) / of).toFixed(n / of < 0.1 ? 1 : 0)}%`);

/** The terminal summary: per route the verdict, then each seeded bug and the findings that show it. */
export function renderDemoSummary(d: Omit<DemoResult, 'close'>): string {
  const r = d.result;
  const out: string[] = [];
  const pipeline = d.runtime === 'embedded' ? 'embedded pipeline' : d.runtime === 'distributed' ? 'pipeline on RabbitMQ and MongoDB' : 'pipeline partly embedded';
  const data = d.backends === 'memory' ? "the services' data in memory" : d.backends === 'mongodb+rabbitmq' ? "the services on MongoDB and RabbitMQ" : "the services partly on MongoDB/RabbitMQ";
  out.push(`shadowdiff demo — run ${d.runId} (${pipeline}; ${data})`);
  out.push(`${d.traffic.sent} requests sent through the proxy in ${(d.traffic.ms / 1000).toFixed(1)} s, ${d.mirrored} mirrored to the candidate, ${r.compared} compared.`);
  out.push('');
  out.push('Readiness per route:');
  const width = Math.max(...r.routes.map((x) => x.route.length), 10);
  for (const x of r.routes) {
    out.push(`  ${x.route.padEnd(width)}  ${String(x.compared).padStart(4)} compared  ${String(x.mismatch).padStart(4)} mismatch (${pct(x.mismatch, x.compared - x.incomplete - x.inconclusive).padStart(4)})  ${x.incomplete ? `${x.incomplete} incomplete  ` : ''}${x.inconclusive ? `${x.inconclusive} inconclusive  ` : ''}${(x.readiness ?? '').toUpperCase()}`);
  }
  out.push('');
  out.push('Silent bugs found (seeded into the candidate; none of them raised an error):');
  const owner = (name: string) => {
    const c = r.consumers?.find((x) => x.name === name);
    return c ? `${name} (${c.owner}${c.critical ? ', CRITICAL' : ''})` : name;
  };
  for (const { bug, finding, hurts } of d.bugs) {
    if (finding) {
      out.push(`  ✔ ${bug.title}`);
      out.push(`      ${bug.route}  ${bug.target}  ${bug.field}  in ${finding.requests} request(s): legacy=${show(finding.legacy)} candidate=${show(finding.candidate)}  e.g. ${finding.example}`);
      const direct = hurts.direct.length ? `hurts ${hurts.direct.map(owner).join(', ')}` : 'no declared consumer reads this field';
      const through = hurts.through.length ? `; through what it changes with it, ${hurts.through.map(owner).join(', ')}` : '';
      out.push(`      ${direct}${through}`);
    } else {
      out.push(`  ✘ NOT FOUND: ${bug.title} (${bug.route} ${bug.target} ${bug.field}) — did the traffic reach it? Try more --requests.`);
    }
  }
  const related = r.routes.flatMap((x) => x.findings).filter((g) => !d.unexplained.includes(g) && !d.bugs.some((b) => b.finding === g));
  if (related.length) {
    out.push('  With them, in the same requests (their consequences):');
    for (const g of related.slice(0, 12)) out.push(`      ${g.route}  ${g.target}  ${g.field}  in ${g.requests} request(s)`);
    if (related.length > 12) out.push(`      …and ${related.length - 12} more`);
  }
  if (d.unexplained.length) {
    out.push('');
    out.push('Other differences (not seeded — look at these):');
    for (const g of d.unexplained.slice(0, 20)) {
      const race = g.preStateDiffers ? `  (${g.preStateDiffers} started from different data: the candidate read after legacy wrote)` : '';
      out.push(`  ${g.severity.padEnd(6)} ${g.kind.padEnd(15)} ${g.route}  ${g.target}  ${g.field}  in ${g.requests} request(s): legacy=${show(g.legacy)} candidate=${show(g.candidate)}${race}`);
    }
  }
  const incomplete = r.routes.reduce((n, x) => n + x.incomplete, 0);
  if (incomplete) out.push('', `${incomplete} request(s) could not be compared completely: ${r.routes.flatMap((x) => Object.entries(x.incompleteReasons).map(([why, n]) => `${why} (${n})`)).slice(0, 3).join('; ')}`);
  const inconclusive = r.routes.reduce((n, x) => n + x.inconclusive, 0);
  if (inconclusive) out.push('', `${inconclusive} request(s) were inconclusive (the sides did not start from the same data): ${r.routes.flatMap((x) => Object.entries(x.inconclusiveReasons).map(([why, n]) => `${why} (${n})`)).slice(0, 3).join('; ')}`);
  if (r.consumers?.length) {
    out.push('', 'Readiness per consumer (examples/orders/consumers.ts):');
    for (const c of r.consumers) out.push(`  ${c.name.padEnd(20)} ${c.readiness.toUpperCase().padEnd(15)} ${c.why}`);
  }
  if (d.cutover) out.push('', ...renderCutover(d.cutover, d.runId));
  out.push('');
  out.push('Noise handled by the rules (examples/orders/rules.ts), never reported: timestamps, generated ids (ObjectIds mapped between the sides, event ids), the PG approval number, line order; the rewrite\'s v2 schema and renamed payments collection mapped back to legacy\'s.');
  return out.join('\n');
}

/** The ramp, the rollback and what it leaves to correct. */
function renderCutover(c: CutoverSummary, runId: string): string[] {
  const out = ['Cutover (POST /orders live to the candidate under the demo plan; the candidate carries only the coupon-rounding bug):'];
  out.push(`  ramp: ${c.steps.map((p) => `${p}%`).join(' → ') || 'no step'}; ${c.servedLive} order request(s) served live by the candidate, ${c.servedWrong} of them wrong`);
  for (const h of c.holds) out.push(`  held: ${h}`);
  if (c.rollback) {
    out.push(`  ROLLED BACK by ${c.rollback.by}${c.detectedMs !== undefined ? `, ${c.detectedMs} ms after the first order it served wrong` : ''}: ${c.rollback.reason}`);
    out.push(`  served live by the candidate after the rollback: ${c.servedAfter}`);
  } else {
    out.push(`  no rollback: the plan ${c.outcome === 'done' ? 'completed' : 'stopped with the traffic'}${c.servedWrong ? '' : ' (no order the candidate served was wrong: try more --requests)'}`);
  }
  const updates = c.corrections.filter((x) => x.action === 'update' && !x.supersededBy);
  out.push(`  to correct: ${updates.length} order document(s) (guarded updates, in both schemas), ${c.corrections.filter((x) => x.action === 'event').length} event(s) whose consumers must be told, ${c.corrections.filter((x) => x.action === 'manual').length} for a person`);
  out.push(`  see them on the report's cutover page; on MongoDB: shadowdiff corrections --run ${runId} --rules dist/examples/orders/rules.js`);
  return out;
}

function show(v: unknown): string {
  const t = JSON.stringify(v) ?? 'undefined';
  return t.length > 40 ? `${t.slice(0, 37)}…` : t;
}
