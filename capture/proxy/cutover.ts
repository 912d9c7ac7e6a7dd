// Cutover (docs/cutover.md): a share of live traffic, global and per route, served by the
// candidate *live* while legacy gets the mirror in dry-run and the comparison goes on with
// legacy as the reference. Which requests: a stable hash of a key (a header, a cookie or a part
// of the path: a customer id, an order number), so one entity's lifecycle stays on one system,
// and raising 5% to 10% keeps the first 5% where they were (a request is the candidate's while
// its bucket is below the share). A share the guard rolled back is held at 0 until a person
// resumes it with a reason. Every change is kept in an audit trail: who, when, why; with
// `stateFile` the shares, holds and trail outlive a restart.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ShadowdiffError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { compileRoutePattern, type RoutePattern } from '../../core/route-pattern';
import { fnv1a } from '../../core/fnv1a';
import { READABLE } from '../../core/issues';

const percent = z.number().min(0, 'must be 0-100').max(100, 'must be 0-100');

const validRegex = (s: string) => {
  try {
    return /\((?!\?)/.test(s) && new RegExp(s) instanceof RegExp;
  } catch {
    return false;
  }
};

/** Where a request's sticky key comes from. */
export const liveKeySchema = z.union([
  z.object({ header: z.string().min(1).max(200).regex(/^[\w-]+$/, 'a header name') }).strict(),
  z.object({ cookie: z.string().min(1).max(200).regex(/^[\w.!#$%&'*+^`|~-]+$/, 'a cookie name') }).strict(),
  z.object({ path: z.string().min(1).max(500).refine(validRegex, 'a regular expression with a capturing group, e.g. "^/orders/([^/]+)"') }).strict(),
]);

/** Why a share is held at 0: the guard's rollback (or a person's), with its evidence. */
export const holdSchema = z
  .object({
    at: z.string(),
    by: z.string().max(200),
    reason: z.string().max(2000),
    evidence: z.unknown().optional(),
  })
  .strict();

export const liveRouteSchema = z.object({ route: z.string().min(1).max(500), percent, held: holdSchema.optional() }).strict();

export const cutoverSchema = z
  .object({
    /** Share of requests (those no route rule matches) the candidate serves live. */
    percent: percent.default(0),
    held: holdSchema.optional(),
    /** First matching rule wins over `percent`. */
    routes: z.array(liveRouteSchema).max(1000).default([]),
    /** The sticky key. Unset: each request at random. Set: a request without it stays on legacy. */
    key: liveKeySchema.optional(),
    /** Varies which keys fall in the share; keep it for the whole cutover (every proxy instance the same). */
    salt: z.string().min(1).max(200).default('shadowdiff-cutover'),
    /** Where the shares, holds and audit trail are kept across restarts (written on every change). */
    stateFile: z.string().min(1).optional(),
    /**
     * Where the guard's rollbacks are heard: an amqp(s):// URL (default: the sink, when it is
     * one). The workers broadcast them on `<prefix>.control`; every proxy instance applies them.
     */
    control: z.string().min(1).optional(),
  })
  .strict();

export type CutoverConfig = z.output<typeof cutoverSchema>;
export type LiveKey = z.output<typeof liveKeySchema>;
export type Hold = z.output<typeof holdSchema>;
/** The shares as they stand (the config without where it is kept and heard). */
export type CutoverState = Omit<CutoverConfig, 'stateFile' | 'control'>;

export interface AuditEntry {
  at: string;
  by: string;
  action: 'set' | 'rollback' | 'resume' | 'restored';
  /** The route rule, or `*` for the global share. */
  route: string;
  from: number;
  to: number;
  reason: string;
  evidence?: unknown;
}

export interface ServeDecision {
  served: 'legacy' | 'candidate';
  /** The route rule that decided, or `*`. */
  rule: string;
  /** Legacy serves a request the share would give the candidate: it has no key. */
  noKey?: boolean;
}

interface Compiled extends RoutePattern {
  readonly below: number;
}

const BUCKETS = 10_000;
const MAX_AUDIT = 10_000;
const LEGACY: ServeDecision = { served: 'legacy', rule: '*' };

export class LiveShare {
  private s: CutoverState;
  private routes: readonly Compiled[] = [];
  private below = 0;
  /** Whether any share is above 0: when not, deciding costs one comparison. */
  private any = false;
  private path: RegExp | undefined;
  private readonly trail: AuditEntry[] = [];
  private readonly stateFile: string | undefined;
  /** The guard's decisions applied already (they are repeated for listeners that were away). */
  private readonly applied = new Set<string>();

  constructor(
    config: CutoverConfig,
    private readonly logger: Logger,
    /** `signed`: the proxy signs its shadow headers; without it no share may be above 0. */
    private readonly o: { signed: boolean },
    private readonly onChange: (state: CutoverState) => void = () => {},
  ) {
    const { stateFile, control: _control, ...state } = config;
    this.stateFile = stateFile;
    this.s = state;
    const saved = stateFile !== undefined && existsSync(stateFile) ? readState(stateFile) : undefined;
    if (saved) {
      this.s = saved.state;
      this.trail.push(...saved.audit.slice(-MAX_AUDIT));
      for (const e of this.trail) {
        const id = (e.evidence as { guardId?: unknown } | undefined)?.guardId;
        if (typeof id === 'string') this.applied.add(id);
      }
      logger.warn({ stateFile, percent: this.s.percent, routes: this.s.routes.length, held: heldRules(this.s) }, 'cutover: shares restored from the state file (it wins over the configuration; change them with shadowdiff cutover)');
    }
    if (!o.signed && (this.s.percent > 0 || this.s.routes.some((r) => r.percent > 0 && !r.held))) throw unsigned();
    this.compile();
  }

  get state(): CutoverState {
    return this.s;
  }

  audit(limit = 1000): AuditEntry[] {
    return this.trail.slice(-limit);
  }

  /** The route rules' compiled patterns and the global share, for the request path. */
  private compile(): void {
    this.routes = this.s.routes.map((r, i) => ({ ...compileRoutePattern(r.route, `cutover.routes.${i}.route`), below: r.held ? 0 : toBuckets(r.percent) }));
    this.below = this.s.held ? 0 : toBuckets(this.s.percent);
    this.any = this.below > 0 || this.routes.some((r) => r.below > 0);
    this.path = this.s.key && 'path' in this.s.key ? new RegExp(this.s.key.path) : undefined;
    this.onChange(this.s);
  }

  /** The header the sticky key is read from, lower-cased (or `cookie`). */
  get keyHeader(): string | undefined {
    const k = this.s.key;
    return k === undefined ? undefined : 'header' in k ? k.header.toLowerCase() : 'cookie' in k ? 'cookie' : undefined;
  }

  /** Whether the candidate serves this request live. `keyHeaderValue` is the value of keyHeader. */
  decide(method: string, path: string, keyHeaderValue: string | undefined): ServeDecision {
    if (!this.any) return LEGACY;
    let below = this.below;
    let rule = '*';
    for (const r of this.routes) {
      if (r.matches(method, path)) {
        below = r.below;
        rule = r.route;
        break;
      }
    }
    if (below <= 0) return { served: 'legacy', rule };
    const key = this.s.key;
    let value: string | undefined;
    if (key === undefined) value = undefined;
    else if ('header' in key) value = keyHeaderValue;
    else if ('cookie' in key) value = keyHeaderValue === undefined ? undefined : cookieValue(keyHeaderValue, key.cookie);
    else value = this.path!.exec(path)?.[1];
    if (key !== undefined && (value === undefined || value === '')) return { served: 'legacy', rule, noKey: true };
    if (below >= BUCKETS) return { served: 'candidate', rule };
    const bucket = value === undefined ? Math.floor(Math.random() * BUCKETS) : fnv1a(this.s.salt, value) % BUCKETS;
    return { served: bucket < below ? 'candidate' : 'legacy', rule };
  }

  /** Sets a share (a route's, or the global one). A held share is refused: resume it first. */
  set(change: { route?: string | undefined; percent: number; reason: string; by: string }): CutoverState {
    const p = percent.safeParse(change.percent);
    if (!p.success) throw new ShadowdiffError('SHADOWDIFF_CONFIG', `percent: ${p.error.issues[0]!.message}.`, { key: 'percent' });
    requireReason(change.reason);
    const i = this.ruleIndex(change.route);
    const current = i === -1 ? { percent: this.s.percent, held: this.s.held } : this.s.routes[i]!;
    if (current.held) {
      throw new ShadowdiffError('SHADOWDIFF_HELD', `${change.route ?? 'the global share'} was rolled back (${current.held.at}, by ${current.held.by}: ${current.held.reason}); it stays at 0 until a person resumes it: shadowdiff cutover --resume --reason "…"`);
    }
    if (change.route !== undefined && i === -1) compileRoutePattern(change.route, 'route');
    if (p.data > 0 && !this.o.signed) throw unsigned();
    this.change({ action: 'set', route: change.route ?? '*', from: current.percent, to: p.data, reason: change.reason, by: change.by }, (s) => {
      if (change.route === undefined) return { ...s, percent: p.data };
      const routes = [...s.routes];
      if (i === -1) routes.push({ route: change.route, percent: p.data });
      else routes[i] = { ...routes[i]!, percent: p.data };
      return { ...s, routes };
    });
    return this.s;
  }

  /**
   * Drops a share to 0 and holds it there (the guard, or a person). `route` is a rule, or a
   * route as comparisons name it (`POST /orders/:id`): the rule that serves it is held; where
   * only the global share serves it, a held rule for that route alone is put first.
   * Undefined: every share. Already held: nothing changes (false).
   */
  rollback(change: { route?: string | undefined; reason: string; by: string; evidence?: unknown }): boolean {
    const hold: Hold = { at: new Date().toISOString(), by: change.by, reason: change.reason.slice(0, 2000), ...(change.evidence !== undefined ? { evidence: change.evidence } : {}) };
    if (change.route === undefined) {
      if (this.s.held && this.s.routes.every((r) => r.held || r.percent === 0)) return false;
      const from = Math.max(this.s.percent, ...this.s.routes.map((r) => (r.held ? 0 : r.percent)));
      this.change({ action: 'rollback', route: '*', from, to: 0, reason: hold.reason, by: hold.by, evidence: hold.evidence }, (s) => ({
        ...s,
        held: s.held ?? hold,
        routes: s.routes.map((r) => (r.held || r.percent === 0 ? r : { ...r, held: hold })),
      }));
      return true;
    }
    let i = this.ruleIndex(change.route);
    if (i === -1) i = this.servingRule(change.route);
    if (i >= 0) {
      const r = this.s.routes[i]!;
      if (r.held || r.percent === 0) return false;
      this.change({ action: 'rollback', route: r.route, from: r.percent, to: 0, reason: hold.reason, by: hold.by, evidence: hold.evidence }, (s) => ({ ...s, routes: s.routes.map((x, j) => (j === i ? { ...x, held: hold } : x)) }));
      return true;
    }
    if (this.s.held || this.s.percent === 0) return false;
    compileRoutePattern(change.route, 'route');
    this.change({ action: 'rollback', route: change.route, from: this.s.percent, to: 0, reason: hold.reason, by: hold.by, evidence: hold.evidence }, (s) => ({
      ...s,
      routes: [{ route: change.route!, percent: s.percent, held: hold }, ...s.routes],
    }));
    return true;
  }

  /**
   * A guard's rollback heard on the control channel, for this proxy's run: applied once by its
   * id, however often it is repeated. True when it changed a share.
   */
  applyGuard(m: { id: string; route: string; reason: string; by: string; evidence?: unknown }): boolean {
    if (this.applied.has(m.id)) return false;
    this.applied.add(m.id);
    if (this.applied.size > 100_000) this.applied.delete(this.applied.values().next().value!);
    return this.rollback({ route: m.route === '*' ? undefined : m.route, reason: m.reason, by: m.by, evidence: { guardId: m.id, ...(m.evidence !== undefined ? { detail: m.evidence } : {}) } });
  }

  /** A person lifts a hold, with a reason; the share stays 0 unless `percent` is given. */
  resume(change: { route?: string | undefined; reason: string; by: string; percent?: number | undefined }): CutoverState {
    requireReason(change.reason);
    const to = change.percent ?? 0;
    const p = percent.safeParse(to);
    if (!p.success) throw new ShadowdiffError('SHADOWDIFF_CONFIG', `percent: ${p.error.issues[0]!.message}.`, { key: 'percent' });
    if (p.data > 0 && !this.o.signed) throw unsigned();
    const i = this.ruleIndex(change.route);
    if (change.route !== undefined && i === -1) throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `no cutover rule for "${change.route}": the rules are ${this.s.routes.map((r) => `"${r.route}"`).join(', ') || '(none)'}.`);
    const current = i === -1 ? { percent: this.s.percent, held: this.s.held } : this.s.routes[i]!;
    if (!current.held) throw new ShadowdiffError('SHADOWDIFF_USAGE', `${change.route ?? 'the global share'} is not held: set its share with --percent instead.`);
    this.change({ action: 'resume', route: change.route ?? '*', from: 0, to: p.data, reason: change.reason, by: change.by }, (s) => {
      if (i === -1) {
        const { held: _held, ...rest } = s;
        return { ...rest, percent: p.data };
      }
      return { ...s, routes: s.routes.map((r, j) => (j === i ? { route: r.route, percent: p.data } : r)) };
    });
    return this.s;
  }

  private ruleIndex(route: string | undefined): number {
    return route === undefined ? -1 : this.s.routes.findIndex((r) => r.route === route.trim());
  }

  /** The rule a route named as comparisons name it (`POST /orders/:id`) falls under, or -1. */
  private servingRule(route: string): number {
    const m = /^([A-Za-z]+)\s+(\/.*)$/.exec(route.trim());
    const method = m ? m[1]!.toUpperCase() : 'GET';
    const path = m ? m[2]! : route.trim();
    return this.routes.findIndex((r) => r.matches(method, path));
  }

  private change(entry: Omit<AuditEntry, 'at'>, next: (s: CutoverState) => CutoverState): void {
    this.s = next(this.s);
    const full: AuditEntry = { at: new Date().toISOString(), ...entry };
    this.trail.push(full);
    if (this.trail.length > MAX_AUDIT) this.trail.splice(0, this.trail.length - MAX_AUDIT);
    this.compile();
    this.logger.warn({ cutover: full }, `cutover: ${entry.action} ${entry.route} ${entry.from}% → ${entry.to}% by ${entry.by}: ${entry.reason}`);
    this.save();
  }

  /** Written whole, then renamed over the old file: a crash leaves the old or the new, never half. */
  private save(): void {
    if (this.stateFile === undefined) return;
    try {
      mkdirSync(dirname(this.stateFile), { recursive: true });
      const tmp = `${this.stateFile}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ version: 1, state: this.s, audit: this.trail }));
      renameSync(tmp, this.stateFile);
    } catch (err) {
      this.logger.error({ stateFile: this.stateFile, err: (err as Error).message }, 'cutover: could not save the state file; the change holds in this process but a restart would lose it');
    }
  }
}

const stateFileSchema = z.object({
  version: z.literal(1),
  state: cutoverSchema.omit({ stateFile: true, control: true }),
  audit: z.array(z.object({ at: z.string(), by: z.string(), action: z.enum(['set', 'rollback', 'resume', 'restored']), route: z.string(), from: z.number(), to: z.number(), reason: z.string(), evidence: z.unknown().optional() })),
});

function readState(file: string): { state: CutoverState; audit: AuditEntry[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_CONFIG', `cutover.stateFile ${file}: cannot read it (${(err as Error).message}). It holds the shares and holds of a cutover: restore it, or move it away to start from the configuration.`);
  }
  const r = stateFileSchema.safeParse(parsed, READABLE);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ShadowdiffError('SHADOWDIFF_CONFIG', `cutover.stateFile ${file}: ${issue.path.join('.') || '(file)'}: ${issue.message}. Restore it, or move it away to start from the configuration.`);
  }
  return r.data as { state: CutoverState; audit: AuditEntry[] };
}

/** Why no share may be above 0 without signing: legacy would run the mirror live, writing twice. */
export function unsigned(): ShadowdiffError {
  return new ShadowdiffError(
    'SHADOWDIFF_CONFIG',
    'a live share above 0 needs the proxy to sign its shadow headers (signing.key, env SHADOWDIFF_SIGNING_KEY) with the key legacy\'s SDK has: legacy runs the mirror of a request the candidate served in dry-run only on a good signature, and would otherwise write it a second time.',
    { key: 'signing.key' },
  );
}

function heldRules(s: CutoverState): string[] {
  return [...(s.held ? ['*'] : []), ...s.routes.filter((r) => r.held).map((r) => r.route)];
}

function requireReason(reason: string): void {
  if (typeof reason !== 'string' || reason.trim().length < 3) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'a change of the live share needs a reason (--reason "…"): it goes in the audit trail.');
}

function toBuckets(p: number): number {
  return Math.round(p * (BUCKETS / 100));
}

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string, name: string): string | undefined {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}
