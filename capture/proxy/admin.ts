// The proxy's admin surface (express, on its own port, never on the traffic port): health,
// Prometheus metrics, and live sampling — read it, change it, kill it — behind a bearer token.
import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ShadowdiffError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { isAllowedHost } from '../../core/net';
import type { ProxyMetrics } from './metrics';
import type { LiveShare } from './cutover';
import type { Sampler } from './sampling';
import type { ProxyStats } from './forwarder';

export interface AdminOptions {
  sampler: Sampler;
  live: LiveShare;
  /** The run this proxy's traffic belongs to (a ramp plan reads its rollup). */
  runId: string;
  metrics: ProxyMetrics;
  stats: () => ProxyStats & Record<string, unknown>;
  token?: string | undefined;
  logger: Logger;
}

export function adminApp(o: AdminOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok', ...o.stats() }));
  // Without a token the admin API listens on loopback only: it answers loopback Host names
  // only, so a page whose name was rebound to 127.0.0.1 (DNS rebinding) reads nothing.
  app.use((req, res, next) => {
    if (o.token !== undefined || isAllowedHost(req.get('host'))) return next();
    res.status(403).json({ error: 'the admin API has no token, so it answers on its loopback address only: use http://127.0.0.1:<port>' });
  });
  app.get('/metrics', async (_req, res) => {
    res.set('content-type', o.metrics.registry.contentType);
    res.send(await o.metrics.registry.metrics());
  });
  app.get('/v1/sampling', (_req, res) => void res.json(o.sampler.config));
  app.put('/v1/sampling', requireToken(o.token), express.json({ limit: '1mb' }), (req, res) => {
    const before = o.sampler.config;
    const after = o.sampler.update(req.body);
    o.logger.warn({ before, after, from: req.ip }, 'sampling changed');
    res.json(after);
  });
  // Cutover (docs/cutover.md): the live shares, the guard's rollbacks, a person's resume, the audit trail.
  const json = express.json({ limit: '1mb' });
  const who = (req: Request) => {
    const by = (req.body as { by?: unknown } | undefined)?.by;
    return typeof by === 'string' && by.trim() ? `${by.trim().slice(0, 200)} (${req.ip})` : `admin API (${req.ip})`;
  };
  const body = (req: Request): Record<string, unknown> => {
    const b = req.body as unknown;
    if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'expected a JSON object such as {"percent": 5, "reason": "step 2 of the plan"}.');
    return b as Record<string, unknown>;
  };
  const text = (v: unknown, name: string): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new ShadowdiffError('SHADOWDIFF_USAGE', `${name} must be a string.`);
    return v;
  };
  const cutover = () => ({ runId: o.runId, ...o.live.state, audit: o.live.audit(20) });
  app.get('/v1/cutover', (_req, res) => void res.json(cutover()));
  app.get('/v1/cutover/audit', (_req, res) => void res.json(o.live.audit()));
  app.put('/v1/cutover', requireToken(o.token), json, (req, res) => {
    const b = body(req);
    if (typeof b.percent !== 'number') throw new ShadowdiffError('SHADOWDIFF_USAGE', 'percent must be a number 0-100, e.g. {"percent": 5, "reason": "…"}.');
    o.live.set({ route: text(b.route, 'route'), percent: b.percent, reason: text(b.reason, 'reason') ?? '', by: who(req) });
    res.json(cutover());
  });
  app.post('/v1/cutover/rollback', requireToken(o.token), json, (req, res) => {
    const b = body(req);
    const changed = o.live.rollback({ route: text(b.route, 'route'), reason: text(b.reason, 'reason') ?? 'rolled back by hand', by: who(req), evidence: b.evidence });
    res.json({ changed, ...cutover() });
  });
  app.post('/v1/cutover/resume', requireToken(o.token), json, (req, res) => {
    const b = body(req);
    if (b.percent !== undefined && typeof b.percent !== 'number') throw new ShadowdiffError('SHADOWDIFF_USAGE', 'percent must be a number 0-100.');
    o.live.resume({ route: text(b.route, 'route'), reason: text(b.reason, 'reason') ?? '', by: who(req), percent: b.percent as number | undefined });
    res.json(cutover());
  });
  app.use((_req, res) => void res.status(404).json({ error: 'not found: the admin API has GET /healthz, GET /metrics, GET and PUT /v1/sampling, GET and PUT /v1/cutover, POST /v1/cutover/rollback and /v1/cutover/resume, GET /v1/cutover/audit' }));
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ShadowdiffError) return void res.status(err.status).json({ error: err.message, code: err.code });
    if (err.type === 'entity.parse.failed') return void res.status(400).json({ error: 'the body is not valid JSON: send e.g. {"percent": 5}' });
    if (err.type === 'entity.too.large') return void res.status(413).json({ error: 'the body is over 1 MB' });
    o.logger.error({ err: err.message }, 'admin API error');
    res.status(err.status && err.status < 500 ? err.status : 500).json({ error: err.status && err.status < 500 ? err.message : 'internal error (logged)' });
  });
  return app;
}

function requireToken(token: string | undefined) {
  const expected = token === undefined ? undefined : Buffer.from(token);
  return (req: Request, res: Response, next: NextFunction) => {
    if (!expected) return void res.status(403).json({ error: 'changing sampling or the cutover needs a token: start the proxy with admin.token (env SHADOWDIFF_ADMIN_TOKEN)' });
    const given = /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1];
    const buf = given === undefined ? undefined : Buffer.from(given);
    if (!buf || buf.length !== expected.length || !timingSafeEqual(buf, expected)) {
      return void res.status(401).set('www-authenticate', 'Bearer').json({ error: 'missing or wrong token: send Authorization: Bearer <admin token>' });
    }
    next();
  };
}
