// `shadowdiff serve`: a JSON API and server-rendered pages over the store. Pages read the
// pre-aggregated rollups (a run of a million comparisons costs what its routes and fields
// cost), list comparisons a page at a time by shadow id, and carry no script at all, so the
// Content-Security-Policy (helmet) allows none. Off loopback a token is required: a bearer
// header for the API, or a cookie set once from `/?token=…` for a browser.
import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { type Comparison, type CompiledRules, compileRules, type FieldStats, type Finding, type Rollup, rollupOf, VERDICTS } from '../compare/engine';
import type { SideRecord } from '../core/effect';
import { ERRORS, ShadowdiffError } from '../core/errors';
import type { Logger } from '../core/logger';
import { eachComparison, type Store } from '../runtime/store/store';
import { h, renderHtml } from './render/html';
import { reevaluate } from '../pipeline/reevaluate';
import { groupKey, type Readiness, type ReplayResult, resultFromRollup } from '../compare/readiness';
import { renderMarkdown } from './render/markdown';

export interface ServeOptions {
  store: Store;
  logger: Logger;
  token?: string | undefined;
  /** Readiness gates for the overview. */
  gates?: { minRequests: number; maxMismatchRate: number };
  /** The rules the run's workers were started with; re-evaluation layers the stored ones over them. */
  rules?: CompiledRules | undefined;
}

const PAGE_MAX = 500;

export function reportApp(o: ServeOptions): express.Express {
  const gates = o.gates ?? { minRequests: 30, maxMismatchRate: 0 };
  const app = express();
  app.disable('x-powered-by');
  // No script at all; styles from our own /style.css. Not upgrade-insecure-requests: the report may be served over plain HTTP on a private network.
  app.use(helmet({ contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], styleSrc: ["'self'"], imgSrc: ["'self'"], formAction: ["'self'"], frameAncestors: ["'none'"], baseUri: ["'none'"] } }, referrerPolicy: { policy: 'same-origin' } }));
  // For load balancers and health checks: says nothing about the data.
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.use(auth(o.token));
  app.get('/style.css', (_req, res) => void res.type('text/css').set('cache-control', 'max-age=3600').send(CSS));
  app.get('/favicon.ico', (_req, res) => void res.status(204).end());

  // ---- API ----
  app.get('/api/runs', async (_req, res) => void res.json(await o.store.listRuns()));
  app.get('/api/runs/:run', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    const rollup = await o.store.getRollup(run.runId);
    res.json({ run, routes: overview(rollup, gates) });
  });
  app.get('/api/runs/:run/differences', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    res.json((await filteredDifferences(o.store, run.runId, differenceFilter(req))).groups);
  });
  app.get('/api/runs/:run/causes', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    res.json(await probableCauses(o.store, run.runId, query(req, 'route')));
  });
  app.get('/api/runs/:run/checklist', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    res.type('text/markdown; charset=utf-8').send(renderMarkdown(await runResult(o.store, run.runId, gates), 'run'));
  });
  app.get('/api/runs/:run/comparisons', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    res.json(await comparisonsPage(o.store, run.runId, req));
  });
  app.get('/api/runs/:run/comparisons/:shadowId', async (req, res) => {
    res.json(await requestView(o.store, param(req, 'run'), param(req, 'shadowId')));
  });
  app.get('/api/runs/:run/rules', async (req, res) => void res.json((await o.store.getRules(param(req, 'run'))) ?? null));
  app.post('/api/runs/:run/rules', express.json({ limit: '1mb' }), async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    const body = req.body as { rules?: unknown; reason?: unknown; author?: unknown };
    if (typeof body?.reason !== 'string' || !body.reason.trim() || typeof body.author !== 'string' || !body.author.trim()) {
      throw new ShadowdiffError('SHADOWDIFF_USAGE', 'a rule change needs "reason" and "author" (non-empty strings) besides "rules".');
    }
    compileRules(body.rules ?? {}, 'rules'); // refuses bad rules with the reason
    const version = await o.store.putRules(run.runId, body.rules ?? {}, { reason: body.reason.trim(), author: body.author.trim() });
    o.logger.info({ runId: run.runId, version, author: body.author }, 'rules changed');
    res.status(201).json({ version });
  });

  app.post('/api/runs/:run/reevaluate', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    res.json(await reevaluate(o.store, run.runId, o.rules));
  });

  // ---- forms (pages post here; same origin only) ----
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  app.post('/runs/:run/expected', sameOrigin, form, async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    const b = req.body as Record<string, unknown>;
    const text = (k: string) => (typeof b[k] === 'string' ? (b[k] as string).trim() : '');
    const [target = '', field = '', kind = '', reason = '', author = '', route = ''] = ['target', 'field', 'kind', 'reason', 'author', 'route'].map(text);
    if (!target || !reason || !author) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'marking a difference as expected needs the target, a reason and an author.');
    const current = ((await o.store.getRules(run.runId))?.rules ?? {}) as { targets?: unknown[] };
    const entry: Record<string, unknown> = { match: target, ignore: [field && field !== '(whole effect)' ? field : '**'] };
    if (['db', 'message', 'http', 'response'].includes(kind ?? '')) entry.kind = kind;
    const rules = { ...current, targets: [...(Array.isArray(current.targets) ? current.targets : []), entry] };
    compileRules(rules, 'rules');
    const version = await o.store.putRules(run.runId, rules, { reason, author });
    o.logger.info({ runId: run.runId, version, author, target, field }, 'difference marked as expected');
    res.redirect(303, `/runs/${u(run.runId)}/differences?${route ? `route=${u(route)}&` : ''}marked=${version}`);
  });
  app.post('/runs/:run/reevaluate', sameOrigin, async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    const r = await reevaluate(o.store, run.runId, o.rules);
    res.redirect(303, `/runs/${u(run.runId)}?reevaluated=${r.reevaluated}&changed=${r.changed}`);
  });

  // ---- pages ----
  app.get('/', async (_req, res) => {
    const runs = await o.store.listRuns();
    page(res, 'Runs', `<h1>Runs</h1>${runs.length ? `<table><thead><tr><th>run</th><th>source</th><th>created</th></tr></thead><tbody>${runs.map((r) => `<tr><td><a href="/runs/${u(r.runId)}">${h(r.runId)}</a></td><td>${h(r.source ?? '')}</td><td>${h(r.createdAt)}</td></tr>`).join('')}</tbody></table>` : '<p class="muted">No runs in this store yet.</p>'}`);
  });
  app.get('/runs/:run', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    const routes = overview(await o.store.getRollup(run.runId), gates);
    const rules = await o.store.getRules(run.runId);
    const notCompared = Object.entries(run.coverage ?? {});
    const total = routes.reduce((n, r) => n + r.compared, 0);
    page(
      res,
      run.runId,
      `<p class="crumbs"><a href="/">runs</a> / ${h(run.runId)}</p>
<h1>${h(run.runId)}</h1>
<p class="muted">${total} request(s) compared${notCompared.length ? `; not compared: ${notCompared.map(([why, n]) => `${h(why)} ${n}`).join(', ')}` : ''}</p>
<h2>Routes</h2>
<table id="routes"><thead><tr><th>route</th><th>readiness</th><th class="n">compared</th><th class="n">match</th><th class="n">mismatch</th><th class="n">incomplete</th><th class="n">inconclusive</th><th class="n">error</th><th class="n">mismatch rate</th><th>trend (per hour)</th></tr></thead><tbody>
${routes.map((r) => `<tr><td><a href="/runs/${u(run.runId)}/differences?route=${u(r.route)}">${h(r.route)}</a></td><td><span class="badge ${cls(r.readiness)}">${h(r.readiness)}</span></td><td class="n">${r.compared}</td><td class="n">${r.match}</td><td class="n">${r.mismatch}</td><td class="n">${r.incomplete}</td><td class="n">${r.inconclusive}</td><td class="n">${r.error}</td><td class="n">${pct(r.mismatchRate)}</td><td>${sparkline(r.trend)}</td></tr>`).join('\n')}
</tbody></table>
<p><a href="/runs/${u(run.runId)}/differences">All differences</a> · <a href="/runs/${u(run.runId)}/checklist">cutover checklist</a> · <a href="/runs/${u(run.runId)}/requests?verdict=mismatch">mismatching requests</a> · <a href="/runs/${u(run.runId)}/requests">all requests</a></p>
<form method="get" action="/runs/${u(run.runId)}/find" class="find"><label>Find a request by shadow id <input name="shadowId" required maxlength="200"></label> <button type="submit">Open</button></form>
${query(req, 'reevaluated') !== undefined ? `<p class="flash">Re-evaluated ${h(query(req, 'reevaluated')!)} request(s) under the current rules; ${h(query(req, 'changed') ?? '0')} changed verdict.</p>` : ''}
<form method="post" action="/runs/${u(run.runId)}/reevaluate" id="reevaluate"><button type="submit">Re-evaluate with the current rules</button> <span class="muted">${rules ? `rules v${rules.version}: ${h(rules.reason)} (${h(rules.author)})` : 'no rules stored for this run'}</span></form>`,
    );
  });
  app.get('/runs/:run/differences', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    const filter = differenceFilter(req);
    const route = filter.route;
    const { groups, scanned, truncated, routes } = await filteredDifferences(o.store, run.runId, filter);
    const causes = filter.since || filter.until ? [] : (await probableCauses(o.store, run.runId, route)).filter((c) => c.fields.length > 1);
    const requestsOf = (g: DifferenceGroup) => `/runs/${u(run.runId)}/requests?route=${u(g.route)}&target=${u(g.target)}&field=${u(g.field)}${filter.since ? `&since=${u(filter.since)}` : ''}${filter.until ? `&until=${u(filter.until)}` : ''}`;
    page(
      res,
      `${run.runId} differences`,
      `<p class="crumbs"><a href="/">runs</a> / <a href="/runs/${u(run.runId)}">${h(run.runId)}</a> / differences${route ? ` on ${h(route)}` : ''}</p>
<h1>Differences${route ? ` — ${h(route)}` : ''}</h1>
${filterForm(`/runs/${u(run.runId)}/differences`, filter, routes, 'differences')}
${scanned !== undefined ? `<p class="muted" id="window">Counted over ${scanned} request(s) compared in the window${truncated ? ` (the first ${scanned}: narrow the window for the rest)` : ''}.</p>` : ''}
${causes.length ? `<h2>Probable causes</h2><p class="muted">Differences that always occur together in the same requests (of the latest ${CAUSE_SAMPLE} that did not match) are likely one bug.</p><ul id="causes">${causes.map((c) => `<li><strong>${c.requests} request(s)</strong> on ${h(c.route)}: ${c.fields.map((f) => `<code>${h(f)}</code>`).join(' + ')} — e.g. <a href="/runs/${u(run.runId)}/requests/${u(c.example)}">${h(c.example)}</a></li>`).join('')}</ul>` : ''}
${query(req, 'marked') ? `<p class="flash">Saved as rules v${h(query(req, 'marked')!)}. New comparisons use it within seconds; <a href="/runs/${u(run.runId)}">re-evaluate</a> to apply it to this run.</p>` : ''}
${groups.length ? `<table id="differences"><thead><tr><th>route</th><th>severity</th><th>kind</th><th>target</th><th>field</th><th class="n">requests</th><th class="n">rate</th><th>flags</th><th>examples</th><th>expected?</th></tr></thead><tbody>
${groups.map((g) => `<tr><td>${h(g.route)}</td><td class="sev-${h(g.severity)}">${h(g.severity)}</td><td>${h(g.kind)}</td><td><code>${h(g.target)}</code></td><td><code>${h(g.field || '(whole effect)')}</code></td><td class="n"><a class="all" href="${requestsOf(g)}">${g.count}</a></td><td class="n">${pct(g.rate)}</td><td>${[g.suggestedNoise ? '<span class="badge not-enough-data">suggested noise</span>' : '', g.preStateDiffers ? `<span class="muted">pre-state differs in ${g.preStateDiffers}</span>` : ''].join(' ')}</td><td>${g.examples.map((e) => `<a class="example" href="/runs/${u(run.runId)}/requests/${u(e)}">${h(e)}</a>`).join(' ')}</td><td>${expectedForm(run.runId, route, g)}</td></tr>`).join('\n')}
</tbody></table>` : '<p class="muted">No differences.</p>'}`,
    );
  });
  app.get('/runs/:run/requests', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    const { items, next } = await comparisonsPage(o.store, run.runId, req, 50);
    const filter = { ...differenceFilter(req), ...pick(req, ['verdict', 'value']) };
    const routes = Object.keys((await o.store.getRollup(run.runId)).routes).sort();
    const nextUrl = next ? `/runs/${u(run.runId)}/requests?${new URLSearchParams({ ...pick(req, ['route', 'target', 'field', 'verdict', 'since', 'until', 'value']), after: next }).toString()}` : undefined;
    page(
      res,
      `${run.runId} requests`,
      `<p class="crumbs"><a href="/">runs</a> / <a href="/runs/${u(run.runId)}">${h(run.runId)}</a> / requests</p>
<h1>Requests</h1>
${filterForm(`/runs/${u(run.runId)}/requests`, filter, routes, 'requests')}
${items.length ? `<table id="requests"><thead><tr><th>shadow id</th><th>route</th><th>verdict</th><th>differences</th><th>compared at</th></tr></thead><tbody>
${items.map((c) => `<tr><td><a href="/runs/${u(run.runId)}/requests/${u(c.shadowId)}"><code>${h(c.shadowId)}</code></a></td><td>${h(c.route)}</td><td><span class="badge ${c.verdict === 'match' ? 'ready' : 'not-ready'}">${h(c.verdict)}</span></td><td>${h(summary(c))}</td><td>${h(c.comparedAt)}</td></tr>`).join('\n')}
</tbody></table>` : '<p class="muted">No requests match.</p>'}
${nextUrl ? `<p><a id="next" href="${h(nextUrl)}">next page →</a></p>` : ''}`,
    );
  });
  app.get('/runs/:run/checklist', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    const result = await runResult(o.store, run.runId, gates);
    const markdown = renderMarkdown(result, 'run');
    page(
      res,
      `${run.runId} cutover checklist`,
      `<p class="crumbs"><a href="/">runs</a> / <a href="/runs/${u(run.runId)}">${h(run.runId)}</a> / cutover checklist</p>
<h1>Cutover checklist <span class="badge ${result.passed ? 'ready' : 'not-ready'}">${result.passed ? 'ready' : 'not ready'}</span></h1>
<p class="muted">Readiness per route against the gates (at least ${gates.minRequests} complete comparisons, a mismatch rate of at most ${pct(gates.maxMismatchRate)}), and the differences that stand in the way — as Markdown, to paste into a change request. <a href="/runs/${u(run.runId)}/report.html">Download the report as one HTML file</a> to attach it.</p>
<textarea id="checklist" readonly rows="${Math.min(40, markdown.split('\n').length + 1)}">${h(markdown)}</textarea>`,
    );
  });
  app.get('/runs/:run/report.html', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    const html = renderHtml(await runResult(o.store, run.runId, gates), { generatedAt: new Date().toISOString(), ...(run.coverage ? { notCompared: run.coverage } : {}) });
    // A download: the file carries its own CSP (its one filter script), not the server's.
    res.attachment(`shadowdiff-${run.runId.replace(/[^\w.-]/g, '_')}.html`).type('html').send(html);
  });
  app.get('/runs/:run/find', async (req, res) => {
    const run = await findRun(o.store, param(req, 'run'));
    const id = query(req, 'shadowId');
    if (!id) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'give a shadow id to look for.');
    if (!(await o.store.getComparison(run.runId, id))) throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `comparison ${JSON.stringify(id)} of run ${JSON.stringify(run.runId)} not found.`);
    res.redirect(303, `/runs/${u(run.runId)}/requests/${u(id)}`);
  });
  app.get('/runs/:run/requests/:shadowId', async (req, res) => {
    const v = await requestView(o.store, param(req, 'run'), param(req, 'shadowId'));
    page(res, `${v.comparison.shadowId}`, renderRequest(v));
  });

  app.use((_req, res) => void res.status(404).json({ error: 'not found' }));
  app.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    const status = err instanceof ShadowdiffError ? err.status : err.type === 'entity.parse.failed' ? 400 : (err.status ?? 500);
    if (status >= 500) o.logger.error({ err: err.message, path: req.path }, 'report server error');
    // The message alone: the CLI's hint ("run shadowdiff … --help") means nothing here.
    const message = status >= 500 ? 'internal error (logged)' : err.type === 'entity.parse.failed' ? 'the body is not valid JSON' : err.message;
    if (req.path.startsWith('/api/')) res.status(status).json({ error: message, ...(err instanceof ShadowdiffError ? { code: err.code } : {}) });
    else page(res.status(status), 'Error', `<h1>${status}</h1><p>${h(message)}</p><p><a href="/">runs</a></p>`);
  });
  return app;
}

// ---- data ----

export interface RouteOverview {
  route: string;
  /** The last 24 hours with comparisons, oldest first. */
  trend: { hour: string; compared: number; mismatched: number }[];
  compared: number;
  match: number;
  mismatch: number;
  incomplete: number;
  inconclusive: number;
  error: number;
  mismatchRate: number;
  readiness: Readiness;
}

function overview(rollup: Rollup, gates: { minRequests: number; maxMismatchRate: number }): RouteOverview[] {
  return Object.values(rollup.routes)
    .map((r) => {
      const complete = r.compared - r.verdicts.incomplete - (r.verdicts.inconclusive ?? 0);
      const bad = r.verdicts.mismatch + r.verdicts.error;
      const mismatchRate = complete ? bad / complete : 0;
      const readiness: Readiness = complete === 0 || complete < gates.minRequests ? 'not enough data' : mismatchRate > gates.maxMismatchRate ? 'not ready' : 'ready';
      const trend = Object.entries(r.hours ?? {})
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .slice(-24)
        .map(([hour, [compared, mismatched]]) => ({ hour, compared, mismatched }));
      return { route: r.route, trend, compared: r.compared, match: r.verdicts.match, mismatch: r.verdicts.mismatch, incomplete: r.verdicts.incomplete, inconclusive: r.verdicts.inconclusive ?? 0, error: r.verdicts.error, mismatchRate, readiness };
    })
    .sort((a, b) => a.route.localeCompare(b.route));
}

export interface DifferenceGroup extends Omit<FieldStats, 'firstSeen' | 'lastSeen'> {
  route: string;
  rate: number;
  /** Differs in nearly every request with values that look generated: probably noise, never suppressed. */
  suggestedNoise: boolean;
}

const SEVERITY_RANK: Record<string, number> = { high: 0, medium: 1, low: 2 };

function differences(rollup: Rollup, route?: string): DifferenceGroup[] {
  const out: DifferenceGroup[] = [];
  for (const r of Object.values(rollup.routes)) {
    if (route !== undefined && r.route !== route) continue;
    for (const f of Object.values(r.fields)) {
      const rate = r.compared ? f.count / r.compared : 0;
      const { firstSeen: _f, lastSeen: _l, ...rest } = f;
      out.push({ ...rest, route: r.route, rate, suggestedNoise: rate >= 0.9 && f.volatile >= f.count * 0.9 });
    }
  }
  // By severity, then by how many requests it touches.
  return out.sort((a, b) => (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3) || b.count - a.count);
}

export interface ProbableCause {
  route: string;
  /** `target field` of each difference in the group. */
  fields: string[];
  requests: number;
  example: string;
}

/** Comparisons looked at to group differences: the latest that did not match. */
const CAUSE_SAMPLE = 2000;

/**
 * Differences that always occur together: over a sample of the run's mismatching comparisons,
 * the requests each (route, target, field) occurs in; those with exactly the same requests form
 * one group — one probable cause — largest first.
 */
async function probableCauses(store: Store, runId: string, route?: string): Promise<ProbableCause[]> {
  const sample: Comparison[] = [];
  for await (const c of eachComparison(store, { runId, verdict: 'mismatch', ...(route ? { route } : {}) }, 500)) {
    sample.push(c);
    if (sample.length >= CAUSE_SAMPLE) break;
  }
  const where = new Map<string, { route: string; field: string; ids: string[] }>();
  for (const c of sample.slice(0, CAUSE_SAMPLE)) {
    for (const f of new Set(c.findings.map((f) => `${f.target} ${f.field || '(whole effect)'}`))) {
      const key = `${c.route}\u0000${f}`;
      let w = where.get(key);
      if (!w) where.set(key, (w = { route: c.route, field: f, ids: [] }));
      w.ids.push(c.shadowId);
    }
  }
  const groups = new Map<string, ProbableCause>();
  for (const w of where.values()) {
    const signature = `${w.route}\u0000${w.ids.join(',')}`;
    const g = groups.get(signature);
    if (g) g.fields.push(w.field);
    else groups.set(signature, { route: w.route, fields: [w.field], requests: w.ids.length, example: w.ids[0]! });
  }
  return [...groups.values()].map((g) => ({ ...g, fields: g.fields.sort() })).sort((a, b) => b.requests - a.requests || b.fields.length - a.fields.length);
}

/**
 * The run's result from its rollup, with the values of one example comparison per difference
 * (at most 50 looked up): what the checklist and the downloadable report show.
 */
async function runResult(store: Store, runId: string, gates: { minRequests: number; maxMismatchRate: number }): Promise<ReplayResult> {
  const rollup = await store.getRollup(runId);
  const values = new Map<string, { legacy?: unknown; candidate?: unknown }>();
  const wanted = Object.values(rollup.routes)
    .flatMap((r) => Object.values(r.fields).map((f) => ({ route: r.route, f })))
    .sort((a, b) => b.f.count - a.f.count)
    .slice(0, 50);
  for (const { route, f } of wanted) {
    const example = f.examples[0] && (await store.getComparison(runId, f.examples[0]));
    const finding = example ? example.findings.find((x) => x.target === f.target && x.field === f.field && x.kind === f.kind) : undefined;
    if (finding) values.set(groupKey(route, f.target, f.field || '(whole effect)', f.kind), { legacy: finding.legacy, candidate: finding.candidate });
  }
  return resultFromRollup(rollup, { ...gates, minCoverage: 0 }, values);
}

async function comparisonsPage(store: Store, runId: string, req: Request, defaultLimit = 100): Promise<{ items: Comparison[]; next?: string }> {
  const limitText = query(req, 'limit');
  const limit = limitText === undefined ? defaultLimit : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_MAX) throw new ShadowdiffError('SHADOWDIFF_USAGE', `limit must be a whole number from 1 to ${PAGE_MAX}.`);
  const verdict = query(req, 'verdict');
  if (verdict !== undefined && !(VERDICTS as readonly string[]).includes(verdict)) throw new ShadowdiffError('SHADOWDIFF_USAGE', `verdict must be ${VERDICTS.join(', ')}.`);
  const value = query(req, 'value');
  if (value !== undefined && value.length > 200) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'value: at most 200 characters.');
  const q = { runId, limit: limit + 1, ...pick(req, ['route', 'target', 'field', 'after']), ...times(req), ...(value !== undefined ? { value: value.trim() } : {}), ...(verdict ? { verdict: verdict as Comparison['verdict'] } : {}) };
  const found = await store.listComparisons(q);
  const items = found.slice(0, limit);
  return found.length > limit ? { items, next: items.at(-1)!.shadowId } : { items };
}

/** `since` and `until`: ISO 8601 instants (a date alone is its midnight, UTC). */
function times(req: Request): { since?: string; until?: string } {
  const out: { since?: string; until?: string } = {};
  for (const name of ['since', 'until'] as const) {
    const text = query(req, name)?.trim();
    if (text === undefined || text === '') continue;
    const ms = Date.parse(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text) ? `${text}Z` : text);
    if (Number.isNaN(ms)) throw new ShadowdiffError('SHADOWDIFF_USAGE', `${name} must be a date and time, e.g. 2026-11-25T09:00:00Z or 2026-11-25 (not ${JSON.stringify(text.slice(0, 40))}).`);
    out[name] = new Date(ms).toISOString();
  }
  if (out.since && out.until && out.since >= out.until) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'since must be before until.');
  return out;
}

interface DifferenceFilter {
  route?: string;
  /** Parts of the target and the field name (case-insensitive). */
  target?: string;
  field?: string;
  severity?: string;
  kind?: string;
  since?: string;
  until?: string;
}

function differenceFilter(req: Request): DifferenceFilter {
  const severity = query(req, 'severity');
  if (severity !== undefined && !(severity in SEVERITY_RANK)) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'severity must be high, medium or low.');
  return { ...pick(req, ['route', 'target', 'field', 'kind']), ...(severity ? { severity } : {}), ...times(req) };
}

/** Comparisons read to count the differences of a time window (the rollup has no per-field time). */
const WINDOW_MAX = 20_000;

/** The differences of a run, or of a time window of it, filtered; and the routes there are. */
async function filteredDifferences(store: Store, runId: string, f: DifferenceFilter): Promise<{ groups: DifferenceGroup[]; routes: string[]; scanned?: number; truncated?: boolean }> {
  let rollup: Rollup;
  let window: { scanned: number; truncated: boolean } | undefined;
  if (f.since || f.until) {
    const seen: Comparison[] = [];
    for await (const c of eachComparison(store, { runId, ...(f.route ? { route: f.route } : {}), ...(f.since ? { since: f.since } : {}), ...(f.until ? { until: f.until } : {}) })) {
      seen.push(c);
      if (seen.length >= WINDOW_MAX) break;
    }
    rollup = rollupOf(runId, seen);
    window = { scanned: seen.length, truncated: seen.length >= WINDOW_MAX };
  } else {
    rollup = await store.getRollup(runId);
  }
  const has = (text: string, part: string | undefined) => part === undefined || text.toLowerCase().includes(part.toLowerCase());
  const groups = differences(rollup, f.route).filter((g) => has(g.target, f.target) && has(g.field || '(whole effect)', f.field) && (f.severity === undefined || g.severity === f.severity) && (f.kind === undefined || g.kind === f.kind));
  const routes = Object.keys(rollup.routes).sort();
  return { groups, routes, ...(window ? window : {}) };
}

interface RequestView {
  comparison: Comparison;
  exchange?: Awaited<ReturnType<Store['getExchange']>>;
  legacy: SideRecord[];
  candidate: SideRecord[];
}

async function requestView(store: Store, runId: string, shadowId: string): Promise<RequestView> {
  const comparison = await store.getComparison(runId, shadowId);
  if (!comparison) throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `comparison ${JSON.stringify(shadowId)} of run ${JSON.stringify(runId)} not found.`);
  const exchange = await store.getExchange(runId, shadowId);
  const records = await store.getEffects(runId, shadowId);
  const bySeq = (a: SideRecord, b: SideRecord) => (a.type === 'effect' ? a.seq : 1e15) - (b.type === 'effect' ? b.seq : 1e15);
  return { comparison, ...(exchange ? { exchange } : {}), legacy: records.filter((r) => r.side === 'legacy').sort(bySeq), candidate: records.filter((r) => r.side === 'candidate').sort(bySeq) };
}

// ---- rendering ----

/**
 * The mismatch rate per hour as a small inline SVG (markup, not script: the CSP allows it):
 * one bar per hour, its height the share of requests that mismatched, each with a tooltip.
 */
function sparkline(trend: RouteOverview['trend']): string {
  if (!trend.length) return '';
  const W = 6;
  const H = 24;
  const bars = trend.map((t, i) => {
    const rate = t.compared ? t.mismatched / t.compared : 0;
    const height = Math.max(1, Math.round(rate * H));
    return `<rect x="${i * W}" y="${H - height}" width="${W - 1}" height="${height}" fill="${rate > 0 ? '#cf222e' : '#1a7f37'}"><title>${h(`${t.hour}:00 — ${t.mismatched} of ${t.compared} mismatched`)}</title></rect>`;
  });
  return `<svg class="trend" width="${trend.length * W}" height="${H}" viewBox="0 0 ${trend.length * W} ${H}" role="img" aria-label="mismatch rate per hour">${bars.join('')}</svg>`;
}

/** "Mark as expected": an ignore rule for this field on this target, with a required reason and author. */
/** The filters of the differences and requests pages: a plain GET form. */
function filterForm(action: string, f: DifferenceFilter & { verdict?: string; value?: string }, routes: string[], what: 'differences' | 'requests'): string {
  const text = (name: string, label: string, value: string | undefined, hint: string) => `<label>${label} <input name="${name}" value="${h(value ?? '')}" placeholder="${h(hint)}"${name === 'value' ? ' maxlength="200"' : ''}></label>`;
  const select = (name: string, label: string, options: string[], value: string | undefined) => `<label>${label} <select name="${name}"><option value="">any</option>${options.map((x) => `<option${x === value ? ' selected' : ''}>${h(x)}</option>`).join('')}</select></label>`;
  return `<form method="get" action="${action}" class="filters" id="filters">
${select('route', 'route', routes, f.route)}
${text('target', 'target', f.target, what === 'requests' ? 'exact, e.g. shop.orders' : 'contains')}
${text('field', 'field', f.field, what === 'requests' ? 'exact, e.g. total' : 'contains')}
${what === 'differences' ? `${select('severity', 'severity', ['high', 'medium', 'low'], f.severity)} ${select('kind', 'kind', ['missing-effect', 'extra-effect', 'changed', 'removed', 'added', 'type-changed', 'too-large'], f.kind)}` : `${select('verdict', 'verdict', [...VERDICTS], f.verdict)} ${text('value', 'value', f.value, 'a value or key, exactly')}`}
${text('since', 'compared since', f.since, '2026-11-25T09:00Z')} ${text('until', 'until', f.until, 'UTC unless +hh:mm')}
<button type="submit">Filter</button> <a href="${action}">clear</a></form>`;
}

/** A comparison's differences in a line: `target field` of its first findings. */
function summary(c: Comparison): string {
  if (c.verdict === 'incomplete') return (c.incomplete ?? []).join('; ');
  if (c.verdict === 'inconclusive') return (c.inconclusive ?? []).join('; ');
  if (c.verdict === 'error') return c.error ?? '';
  const fields = [...new Set(c.findings.map((f) => `${f.target} ${f.field || '(whole effect)'}`))];
  return fields.length > 3 ? `${fields.slice(0, 3).join(', ')} and ${fields.length - 3} more` : fields.join(', ');
}

function expectedForm(runId: string, route: string | undefined, g: DifferenceGroup): string {
  if (!g.field) return ''; // a missing or extra effect is not a field to ignore: fix it, or map it with a rule
  return `<details class="expected"><summary>mark as expected</summary><form method="post" action="/runs/${u(runId)}/expected">
<input type="hidden" name="target" value="${h(g.target)}"><input type="hidden" name="field" value="${h(g.field)}"><input type="hidden" name="kind" value="${h(g.effectKind)}">${route ? `<input type="hidden" name="route" value="${h(route)}">` : ''}
<label>reason <input name="reason" required maxlength="500"></label> <label>author <input name="author" required maxlength="100"></label> <button type="submit">ignore ${h(g.field || 'this effect')} on ${h(g.target)}</button></form></details>`;
}

function renderRequest(v: RequestView): string {
  const c = v.comparison;
  const run = c.runId;
  const findingsBySeq = (side: 'legacy' | 'candidate') => {
    const m = new Map<number, Finding[]>();
    for (const f of c.findings) {
      const seq = side === 'legacy' ? f.legacySeq : f.candidateSeq;
      if (seq === undefined) continue;
      m.set(seq, [...(m.get(seq) ?? []), f]);
    }
    return m;
  };
  const lf = findingsBySeq('legacy');
  const cf = findingsBySeq('candidate');
  const effect = (r: SideRecord, found: Finding[] | undefined, side: 'legacy' | 'candidate') => {
    if (r.type === 'end') return `<div class="effect end">end: ${r.count} effect(s), status ${r.status ?? '—'}</div>`;
    const value = r.kind === 'db' ? r.after ?? r.before : r.payload;
    return `<div class="effect${found ? ' differs' : ''}"><div class="head">#${r.seq} ${h(r.kind)} <code>${h(r.target)}</code> ${h(r.op)}${r.status === 'failed' ? ' <span class="sev-high">failed</span>' : ''}</div>${json(value, new Set((found ?? []).map((f) => f.path)), side)}</div>`;
  };
  const pairs = c.pairs.map((p) => {
    const l = p.legacySeq === undefined ? undefined : v.legacy.find((r) => r.type === 'effect' && r.seq === p.legacySeq);
    const r = p.candidateSeq === undefined ? undefined : v.candidate.find((x) => x.type === 'effect' && x.seq === p.candidateSeq);
    return `<tr><td>${l ? effect(l, lf.get(p.legacySeq!), 'legacy') : '<span class="muted">(none)</span>'}</td><td>${r ? effect(r, cf.get(p.candidateSeq!), 'candidate') : '<span class="muted">(none)</span>'}</td></tr>`;
  });
  const findings = c.findings.map(
    (f) => `<tr><td class="sev-${h(f.severity)}">${h(f.severity)}</td><td>${h(f.kind)}</td><td><code>${h(f.target)}</code></td><td><code>${h(f.path)}</code></td><td class="v legacy">${h(show(f.legacy))}</td><td class="v candidate">${h(show(f.candidate))}</td><td><a href="/runs/${u(run)}/differences?route=${u(c.route)}">examples</a></td></tr>`,
  );
  const x = v.exchange;
  return `<p class="crumbs"><a href="/">runs</a> / <a href="/runs/${u(run)}">${h(run)}</a> / <a href="/runs/${u(run)}/differences?route=${u(c.route)}">${h(c.route)}</a> / ${h(c.shadowId)}</p>
<h1>${h(c.route)} <span class="badge ${c.verdict === 'match' ? 'ready' : 'not-ready'}">${h(c.verdict)}</span></h1>
<p class="muted">${h(c.shadowId)} · compared ${h(c.comparedAt)}${c.incomplete?.length ? ` · incomplete: ${h(c.incomplete.join('; '))}` : ''}${c.inconclusive?.length ? ` · inconclusive: ${h(c.inconclusive.join('; '))}` : ''}${c.error ? ` · ${h(c.error)}` : ''}</p>
${findings.length ? `<h2>Findings</h2><table id="findings"><thead><tr><th>severity</th><th>kind</th><th>target</th><th>path</th><th>legacy</th><th>candidate</th><th></th></tr></thead><tbody>${findings.join('')}</tbody></table>` : ''}
${x ? `<h2>Request</h2><div class="effect"><div class="head">${h(x.request.method)} <code>${h(x.request.path)}</code></div>${json(x.request.body ?? null, new Set(), 'legacy')}</div>
<h2>Responses</h2><table class="sides"><thead><tr><th>legacy</th><th>candidate</th></tr></thead><tbody><tr><td>${response(x.responses.legacy)}</td><td>${response(x.responses.candidate)}</td></tr></tbody></table>` : ''}
<h2>Effects, paired as compared</h2>
${pairs.length ? `<table class="sides" id="pairs"><thead><tr><th>legacy</th><th>candidate</th></tr></thead><tbody>${pairs.join('')}</tbody></table>` : '<p class="muted">No effects kept for this request (the worker keeps them for requests that did not match).</p>'}`;
}

function response(r: { status?: number; body?: unknown; error?: string } | undefined): string {
  if (!r) return '<span class="muted">(none)</span>';
  if (r.error) return `<span class="sev-high">${h(r.error)}</span>`;
  return `<div class="effect"><div class="head">status ${r.status ?? '—'}</div>${json(r.body ?? null, new Set(), 'legacy')}</div>`;
}

/**
 * A JSON value as nested HTML, keys in order, with the values at differing paths (finding
 * paths such as `items[2].price`) marked so they stand out in place.
 */
function json(value: unknown, differing: Set<string>, side: 'legacy' | 'candidate', path = ''): string {
  const mark = (inner: string) => (differing.has(path) ? `<mark class="diff ${side}" data-path="${h(path)}">${inner}</mark>` : inner);
  if (value === null || typeof value !== 'object') return mark(`<span class="scalar">${h(JSON.stringify(value) ?? 'undefined')}</span>`);
  if (Array.isArray(value)) {
    return mark(`<ol start="0" class="json">${value.map((v, i) => `<li>${json(v, differing, side, `${path}[${i}]`)}</li>`).join('')}</ol>`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  return mark(`<ul class="json">${entries.map(([k, v]) => `<li><span class="key">${h(k)}</span>: ${json(v, differing, side, path ? `${path}.${k}` : k)}</li>`).join('')}</ul>`);
}

function page(res: Response, title: string, body: string): void {
  res.type('html').send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${h(title)} — shadowdiff</title><link rel="stylesheet" href="/style.css"></head><body>${body}</body></html>`);
}

const CSS = `:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; --line: #d0d7de; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 1280px; padding: 0 1rem; }
h1 { font-size: 1.35rem; margin: .25rem 0; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
a { color: #0969da; } .muted, .crumbs { color: var(--muted); } code, .json, td.v { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; border-radius: 1em; padding: 0 .6em; font-size: 12px; font-weight: 600; color: #fff; } .ready { background: var(--ok); } .not-ready { background: var(--bad); } .not-enough-data { background: var(--warn); }
.flash { background: #ddf4ff; border: 1px solid #54aeff; border-radius: 6px; padding: .4rem .6rem; } details.expected form { margin-top: .3rem; } details.expected input { width: 9rem; }
.sev-high { color: var(--bad); font-weight: 600; } .sev-medium { color: var(--warn); } td.v { max-width: 26rem; overflow-wrap: anywhere; } .legacy { color: var(--bad); } .candidate { color: var(--ok); }
table.sides td { width: 50%; } .effect { border: 1px solid var(--line); border-radius: 6px; padding: .4rem .6rem; margin: .25rem 0; } .effect.differs { border-color: var(--warn); } .effect .head { font-weight: 600; margin-bottom: .25rem; }
ul.json, ol.json { margin: 0; padding-left: 1.25rem; list-style: none; } ol.json { list-style: decimal; } .key { color: #8250df; }
mark.diff { border-radius: 3px; padding: 0 2px; } mark.diff.legacy { background: #ffebe9; } mark.diff.candidate { background: #dafbe1; }
@media (prefers-color-scheme: dark) { mark.diff.legacy { background: #5c1f1f; color: #fff; } mark.diff.candidate { background: #1f4a2a; color: #fff; } }
.filters { display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: flex-end; margin: .75rem 0 1rem; } .filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); } .filters input, .filters select { font: inherit; font-size: 13px; padding: .2rem .3rem; min-width: 9rem; }
textarea#checklist { width: 100%; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; padding: .5rem; }`;

// ---- helpers ----

async function findRun(store: Store, runId: string) {
  const run = await store.getRun(runId);
  if (run) return run;
  if ((await store.countComparisons(runId)) > 0) return { runId, createdAt: '' };
  throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `no run ${JSON.stringify(runId)} (not found in this store).`);
}

function param(req: Request, name: string): string {
  return String(req.params[name] ?? '');
}

function query(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function pick(req: Request, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = query(req, n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}

const u = (s: string) => encodeURIComponent(s);
const cls = (s: string) => s.replace(/ /g, '-');
const pct = (x: number) => `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`;
function show(v: unknown): string {
  if (v === undefined) return '—';
  const t = JSON.stringify(v) ?? String(v);
  return t.length > 200 ? `${t.slice(0, 197)}…` : t;
}

/** Bearer header (API) or cookie (browser, set once from `?token=`); nothing when no token is configured. */
function decodeCookie(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined; // a mangled cookie is no token
  }
}

/** Form posts must come from our own pages: a page elsewhere cannot post here (CSRF). */
function sameOrigin(req: Request, res: Response, next: NextFunction): void {
  if (req.get('sec-fetch-site') === 'same-origin') return next();
  const origin = req.get('origin');
  if (origin !== undefined && origin !== 'null') {
    try {
      if (new URL(origin).host === req.get('host')) return next();
    } catch {
      // not a URL: refused below
    }
  }
  res.status(403).type('text/plain').send('403: this form can only be sent from the report itself.');
}

function auth(token: string | undefined) {
  const expected = token === undefined ? undefined : Buffer.from(token);
  const same = (given: string | undefined) => {
    if (given === undefined || !expected) return false;
    const b = Buffer.from(given);
    return b.length === expected.length && timingSafeEqual(b, expected);
  };
  return (req: Request, res: Response, next: NextFunction) => {
    if (!expected) return next();
    const bearer = /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1];
    const cookie = /(?:^|;\s*)sd_token=([^;]+)/.exec(req.get('cookie') ?? '')?.[1];
    if (same(bearer) || same(cookie === undefined ? undefined : decodeCookie(cookie))) return next();
    const given = query(req, 'token');
    if (req.method === 'GET' && same(given)) {
      res.cookie('sd_token', given!, { httpOnly: true, sameSite: 'strict', path: '/' });
      const url = new URL(req.originalUrl, 'http://x');
      url.searchParams.delete('token');
      return void res.redirect(303, url.pathname + url.search);
    }
    res.status(401).set('www-authenticate', 'Bearer');
    if (req.path.startsWith('/api/')) return void res.json({ error: 'missing or wrong token: send Authorization: Bearer <token>' });
    res.type('text/plain').send('401: open this page with ?token=<the report token> once, or send Authorization: Bearer <token>.');
  };
}
