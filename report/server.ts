// `shadowdiff serve`: a JSON API and server-rendered pages over the store, and the route table
// that joins them. Pages read the pre-aggregated rollups (a run of a million comparisons costs
// what its routes and fields cost), list comparisons a page at a time by shadow id, and carry
// no script at all, so the Content-Security-Policy (helmet) allows none.
//
// Beside this file: auth.ts (token and CSRF), params.ts (query parameters), queries.ts (what
// is read from the store), causes.ts (probable causes), pages/ (the pages, JSX), render/.
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { type CompiledRules, compileRules } from '../compare/engine';
import type { ReplayResult } from '../compare/readiness';
import { ShadowdiffError } from '../core/errors';
import type { Logger } from '../core/logger';
import { Reevaluator } from '../pipeline/reevaluate';
import type { Store } from '../runtime/store/store';
import { auth, hostGuard, notCrossSite, sameOrigin } from './auth';
import { probableCauses } from './causes';
import { checklistPage } from './pages/checklist';
import { differencesPage } from './pages/differences';
import { errorPage } from './pages/error';
import { requestPage } from './pages/request';
import { requestsPage } from './pages/requests';
import { runPage } from './pages/run';
import { runsPage } from './pages/runs';
import { differenceFilter, param, pick, query } from './params';
import { comparisonsPage, filteredDifferences, findRun, type OverviewGates, overview, requestView, runConsumers, runResult } from './queries';
import { withConsumerImpact } from '../compare/consumer-readiness';
import { consumerPage, consumersPage } from './pages/consumers';
import { cutoverPage } from './pages/cutover';
import { renderHtml } from './render/html';
import { renderConsumerSections, renderMarkdown } from './render/markdown';
import { u } from './render/parts';
import { CSS } from './render/style';
import { notCompared } from './coverage';

export type { DifferenceGroup, RouteOverview } from './queries';
export type { ProbableCause } from './causes';

export interface ServeOptions {
  store: Store;
  logger: Logger;
  token?: string | undefined;
  /** Readiness gates for the overview. */
  gates?: OverviewGates;
  /** The rules the run's workers were started with; re-evaluation layers the stored ones over them. */
  rules?: CompiledRules | undefined;
  /** Host names besides loopback a tokenless report answers to (`--allow-host`). */
  allowedHosts?: readonly string[] | undefined;
  /** Runs re-evaluations in the background; one over `store` with `rules` when not given. */
  reevaluator?: Reevaluator;
}

export function reportApp(o: ServeOptions): express.Express {
  const { store } = o;
  const jobs = o.reevaluator ?? new Reevaluator({ store, logger: o.logger, rules: o.rules });
  const gates = o.gates ?? { minRequests: 30, maxMismatchRate: 0 };
  /** The run's result, with readiness per consumer declared in its rules (the base rules and its stored ones). */
  const resultOf = async (runId: string) => withConsumerImpact(await runResult(store, runId, gates), await runConsumers(store, runId, o.rules));
  const checklistMarkdown = (result: ReplayResult) => {
    const sections = renderConsumerSections(result);
    return sections ? `${renderMarkdown(result, 'run')}\n## Per consumer\n\n${sections}` : renderMarkdown(result, 'run');
  };
  const app = express();
  const html = (res: Response, page: string) => void res.type('html').send(page);
  app.disable('x-powered-by');
  // No script at all; styles from our own /style.css. Not upgrade-insecure-requests: the report may be served over plain HTTP on a private network.
  app.use(helmet({ contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], styleSrc: ["'self'"], imgSrc: ["'self'"], formAction: ["'self'"], frameAncestors: ["'none'"], baseUri: ["'none'"] } }, referrerPolicy: { policy: 'same-origin' } }));
  // For load balancers and health checks: says nothing about the data.
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.use(hostGuard(o.token, o.allowedHosts));
  app.use(auth(o.token));
  app.get('/style.css', (_req, res) => void res.type('text/css').set('cache-control', 'max-age=3600').send(CSS));
  app.get('/favicon.ico', (_req, res) => void res.status(204).end());

  // ---- API ----
  app.get('/api/runs', async (_req, res) => void res.json(await store.listRuns()));
  app.get('/api/runs/:run', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    res.json({ run, routes: overview(await store.getRollup(run.runId), gates) });
  });
  app.get('/api/runs/:run/differences', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    res.json((await filteredDifferences(store, run.runId, differenceFilter(req))).groups);
  });
  app.get('/api/runs/:run/causes', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    res.json(await probableCauses(store, run.runId, query(req, 'route')));
  });
  app.get('/api/runs/:run/checklist', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const result = await resultOf(run.runId);
    res.type('text/markdown; charset=utf-8').send(checklistMarkdown(result));
  });
  app.get('/api/runs/:run/consumers', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    res.json((await resultOf(run.runId)).consumers ?? []);
  });
  app.get('/api/runs/:run/comparisons', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    res.json(await comparisonsPage(store, run.runId, req));
  });
  app.get('/api/runs/:run/comparisons/:shadowId', async (req, res) => void res.json(await requestView(store, param(req, 'run'), param(req, 'shadowId'))));
  app.get('/api/runs/:run/rules', async (req, res) => void res.json((await store.getRules(param(req, 'run'))) ?? null));
  app.post('/api/runs/:run/rules', notCrossSite, express.json({ limit: '1mb' }), async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const body = req.body as { rules?: unknown; reason?: unknown; author?: unknown };
    if (typeof body?.reason !== 'string' || !body.reason.trim() || typeof body.author !== 'string' || !body.author.trim()) {
      throw new ShadowdiffError('SHADOWDIFF_USAGE', 'a rule change needs "reason" and "author" (non-empty strings) besides "rules".');
    }
    compileRules(body.rules ?? {}, 'rules'); // refuses bad rules with the reason
    const version = await store.putRules(run.runId, body.rules ?? {}, { reason: body.reason.trim(), author: body.author.trim() });
    o.logger.info({ runId: run.runId, version, author: body.author }, 'rules changed');
    res.status(201).json({ version });
  });
  // Re-evaluation is a background job: started (202), followed, cancelled.
  const jobUrl = (runId: string) => `/api/runs/${u(runId)}/reevaluate`;
  app.post('/api/runs/:run/reevaluate', notCrossSite, express.json({ limit: '16kb' }), async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const by = (req.body as { by?: unknown } | undefined)?.by;
    const job = await jobs.start(run.runId, typeof by === 'string' && by.trim() ? by.trim().slice(0, 200) : undefined);
    res.status(202).location(jobUrl(run.runId)).json(job);
  });
  app.get('/api/runs/:run/reevaluate', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const job = await jobs.status(run.runId);
    if (!job) throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `run ${JSON.stringify(run.runId)} has never been re-evaluated; POST to this address starts it.`);
    res.json(job);
  });
  app.delete('/api/runs/:run/reevaluate', notCrossSite, async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    res.status(202).json(await jobs.cancel(run.runId));
  });

  // ---- forms (pages post here; same origin only) ----
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  app.post('/runs/:run/expected', sameOrigin, form, async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const b = req.body as Record<string, unknown>;
    const text = (k: string) => (typeof b[k] === 'string' ? (b[k] as string).trim() : '');
    const [target = '', field = '', kind = '', reason = '', author = '', route = ''] = ['target', 'field', 'kind', 'reason', 'author', 'route'].map(text);
    if (!target || !reason || !author) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'marking a difference as expected needs the target, a reason and an author.');
    const current = ((await store.getRules(run.runId))?.rules ?? {}) as { targets?: unknown[] };
    const entry: Record<string, unknown> = { match: target, ignore: [field && field !== '(whole effect)' ? field : '**'] };
    if (['db', 'message', 'http', 'response'].includes(kind ?? '')) entry.kind = kind;
    const rules = { ...current, targets: [...(Array.isArray(current.targets) ? current.targets : []), entry] };
    compileRules(rules, 'rules');
    const version = await store.putRules(run.runId, rules, { reason, author });
    o.logger.info({ runId: run.runId, version, author, target, field }, 'difference marked as expected');
    res.redirect(303, `/runs/${u(run.runId)}/differences?${route ? `route=${u(route)}&` : ''}marked=${version}`);
  });
  app.post('/runs/:run/reevaluate', sameOrigin, async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    await jobs.start(run.runId, 'the report page');
    res.redirect(303, `/runs/${u(run.runId)}#reevaluation`);
  });
  app.post('/runs/:run/reevaluate/cancel', sameOrigin, async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    await jobs.cancel(run.runId);
    res.redirect(303, `/runs/${u(run.runId)}#reevaluation`);
  });

  // ---- pages ----
  app.get('/', async (_req, res) => html(res, runsPage(await store.listRuns())));
  app.get('/runs/:run', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    html(res, runPage({ run, routes: overview(await store.getRollup(run.runId), gates), rules: await store.getRules(run.runId), job: await store.getJob(run.runId) }));
  });
  app.get('/runs/:run/differences', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const filter = differenceFilter(req);
    const found = await filteredDifferences(store, run.runId, filter);
    const causes = filter.since || filter.until ? [] : (await probableCauses(store, run.runId, filter.route)).filter((c) => c.fields.length > 1);
    html(res, differencesPage({ runId: run.runId, filter, found, causes, marked: query(req, 'marked') }));
  });
  app.get('/runs/:run/requests', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const { items, next } = await comparisonsPage(store, run.runId, req, 50);
    const filter = { ...differenceFilter(req), ...pick(req, ['verdict', 'value']) };
    const routes = Object.keys((await store.getRollup(run.runId)).routes).sort();
    const nextUrl = next ? `/runs/${u(run.runId)}/requests?${new URLSearchParams({ ...pick(req, ['route', 'target', 'field', 'verdict', 'since', 'until', 'value']), after: next }).toString()}` : undefined;
    html(res, requestsPage({ runId: run.runId, filter, routes, items, nextUrl }));
  });
  app.get('/runs/:run/checklist', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const result = await resultOf(run.runId);
    html(res, checklistPage({ runId: run.runId, result, markdown: checklistMarkdown(result), gates }));
  });
  app.get('/runs/:run/consumers', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    html(res, consumersPage({ runId: run.runId, consumers: (await resultOf(run.runId)).consumers ?? [] }));
  });
  app.get('/runs/:run/cutover', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const [events, rollup] = await Promise.all([store.listCutoverEvents(run.runId), store.getRollup(run.runId)]);
    html(res, cutoverPage({ runId: run.runId, events, routes: Object.values(rollup.routes) }));
  });
  app.get('/api/runs/:run/cutover', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const [events, rollup] = await Promise.all([store.listCutoverEvents(run.runId), store.getRollup(run.runId)]);
    res.json({ events, served: Object.values(rollup.routes).filter((r) => r.served?.[0]).map((r) => ({ route: r.route, served: r.served![0], wrong: r.served![1], compared: r.compared })) });
  });
  app.get('/runs/:run/consumers/:name', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const name = param(req, 'name');
    const consumer = (await resultOf(run.runId)).consumers?.find((c) => c.name === name);
    if (!consumer) throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `no consumer ${JSON.stringify(name)} is declared for run ${JSON.stringify(run.runId)} (see its consumers page).`);
    html(res, consumerPage({ runId: run.runId, consumer }));
  });
  app.get('/runs/:run/report.html', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const skipped = notCompared(run);
    const file = renderHtml(await resultOf(run.runId), { generatedAt: new Date().toISOString(), ...(Object.keys(skipped).length ? { notCompared: skipped } : {}) });
    // A download: the file carries its own CSP (its one filter script), not the server's.
    res.attachment(`shadowdiff-${run.runId.replace(/[^\w.-]/g, '_')}.html`).type('html').send(file);
  });
  app.get('/runs/:run/find', async (req, res) => {
    const run = await findRun(store, param(req, 'run'));
    const id = query(req, 'shadowId');
    if (!id) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'give a shadow id to look for.');
    if (!(await store.getComparison(run.runId, id))) throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `comparison ${JSON.stringify(id)} of run ${JSON.stringify(run.runId)} not found.`);
    res.redirect(303, `/runs/${u(run.runId)}/requests/${u(id)}`);
  });
  app.get('/runs/:run/requests/:shadowId', async (req, res) => html(res, requestPage(await requestView(store, param(req, 'run'), param(req, 'shadowId')))));

  app.use((_req, res) => void res.status(404).json({ error: 'not found' }));
  app.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    const status = err instanceof ShadowdiffError ? err.status : err.type === 'entity.parse.failed' ? 400 : (err.status ?? 500);
    if (status >= 500) o.logger.error({ err: err.message, path: req.path }, 'report server error');
    // The message alone: the CLI's hint ("run shadowdiff … --help") means nothing here.
    const message = status >= 500 ? 'internal error (logged)' : err.type === 'entity.parse.failed' ? 'the body is not valid JSON' : err.message;
    if (req.path.startsWith('/api/')) res.status(status).json({ error: message, ...(err instanceof ShadowdiffError ? { code: err.code } : {}) });
    else html(res.status(status), errorPage(status, message));
  });
  return app;
}
