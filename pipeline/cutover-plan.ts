// `shadowdiff cutover --plan plan.json` (cli/cutover.ts; the demo runs it too): a ramp that
// advances by itself (docs/cutover.md). Each step sets the live share, then waits at least its dwell time and until its gates hold —
// enough requests compared, a mismatch rate under the maximum, no critical finding — measured
// over the step alone from the run's rollup. A gate that fails holds the ramp where it is; the
// guard's rollback ends it. Every step, hold and end goes on the run's cutover timeline.
// Stateless: started again, it finds the step the proxy's share is at and goes on from there.
import { z } from 'zod';
import type { Rollup } from '../compare/engine';
import { ShadowdiffError } from '../core/errors';
import { compileRoutePattern } from '../core/route-pattern';
import type { CutoverEvent, Store } from '../runtime/store/store';
import { READABLE } from '../core/issues';

const percent = z.number().min(0, 'must be 0-100').max(100, 'must be 0-100');

export const planSchema = z
  .object({
    version: z.literal(1, { error: 'must be 1 (the plan format\'s version: begin the file with "version": 1)' }),
    /** The cutover rule the plan ramps (`POST /orders`); absent: the global share. */
    route: z.string().min(1).max(500).optional(),
    steps: z
      .array(
        z
          .object({
            percent,
            /** The least time at this share before the next step. */
            dwellSeconds: z.number().min(0).max(30 * 86_400),
            gates: z
              .object({
                /** Comparisons the step must hold (every request of the route, mirrored ones too). */
                minCompared: z.number().int().min(0).default(0),
                /** The most mismatched or failed comparisons, as a share of those compared (0-1). */
                maxMismatchRate: z.number().min(0).max(1).default(0),
                /** No finding ranked critical during the step. */
                noCritical: z.boolean().default(true),
              })
              .strict()
              .prefault({}),
          })
          .strict(),
      )
      .min(1)
      .max(100)
      .refine((steps) => steps.every((s, i) => i === 0 || s.percent >= steps[i - 1]!.percent), 'each step\'s percent must be at least the one before: a plan ramps up (roll back with --rollback)'),
    /** How often the gates are read. */
    pollSeconds: z.number().min(0.1).max(600).default(5),
  })
  .strict();

export type Plan = z.output<typeof planSchema>;

export function parsePlan(raw: unknown, file: string): Plan {
  const r = planSchema.safeParse(raw, READABLE);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ShadowdiffError('SHADOWDIFF_CONFIG', `plan ${file}: ${issue.path.join('.') || '(plan)'}: ${issue.message}. See docs/cutover.md, "A ramp plan".`, { key: issue.path.join('.') });
  }
  if (r.data.route !== undefined) compileRoutePattern(r.data.route, `plan ${file}: route`);
  return r.data;
}

/** What the step measured so far, from the rollup's change since it began. */
export interface StepFigures {
  compared: number;
  mismatched: number;
  served: number;
  servedMismatched: number;
  critical: number;
}

/** Totals over the rollup's routes the plan covers. */
export function figures(rollup: Rollup, route: string | undefined): StepFigures {
  const pattern = route === undefined ? undefined : compileRoutePattern(route, 'route');
  const out: StepFigures = { compared: 0, mismatched: 0, served: 0, servedMismatched: 0, critical: 0 };
  for (const r of Object.values(rollup.routes)) {
    if (pattern) {
      const m = /^([A-Z]+)\s+(\/.*)$/.exec(r.route);
      if (!m || !pattern.matches(m[1]!, m[2]!)) continue;
    }
    out.compared += r.compared;
    out.mismatched += (r.verdicts.mismatch ?? 0) + (r.verdicts.error ?? 0);
    out.served += r.served?.[0] ?? 0;
    out.servedMismatched += r.served?.[1] ?? 0;
    for (const f of Object.values(r.fields)) if (f.severity === 'critical') out.critical += f.count;
  }
  return out;
}

const minus = (a: StepFigures, b: StepFigures): StepFigures => ({
  compared: a.compared - b.compared,
  mismatched: a.mismatched - b.mismatched,
  served: a.served - b.served,
  servedMismatched: a.servedMismatched - b.servedMismatched,
  critical: a.critical - b.critical,
});

/** Why the step's gates do not hold yet (empty: they hold). `waiting` ones only need time or traffic. */
export function gateProblems(step: Plan['steps'][number], f: StepFigures, elapsedMs: number): { failing: string[]; waiting: string[] } {
  const failing: string[] = [];
  const waiting: string[] = [];
  const rate = f.compared ? f.mismatched / f.compared : 0;
  if (rate > step.gates.maxMismatchRate) failing.push(`mismatch rate ${(rate * 100).toFixed(2)}% over the maximum ${(step.gates.maxMismatchRate * 100).toFixed(2)}% (${f.mismatched} of ${f.compared})`);
  if (step.gates.noCritical && f.critical > 0) failing.push(`${f.critical} critical finding(s)`);
  if (f.compared < step.gates.minCompared) waiting.push(`${f.compared} of ${step.gates.minCompared} comparisons`);
  if (elapsedMs < step.dwellSeconds * 1000) waiting.push(`${Math.ceil((step.dwellSeconds * 1000 - elapsedMs) / 1000)} s of dwell left`);
  return { failing, waiting };
}

export interface PlanDeps {
  /** The proxy's cutover state (GET /v1/cutover) with its run id. */
  read(): Promise<ShareState & { runId: string }>;
  /** Sets the share (PUT /v1/cutover). */
  set(percent: number, reason: string): Promise<void>;
  store: Pick<Store, 'getRollup' | 'putCutoverEvent'>;
  log(line: string): void;
  by: string;
  file: string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Resolves when the runner is asked to stop (SIGINT, SIGTERM). */
  stopped: Promise<unknown>;
}

export type PlanOutcome = 'done' | 'rolled-back' | 'stopped';

/** What the plan reads of a proxy's shares (capture/proxy/cutover.ts, CutoverState). */
interface Hold {
  at: string;
  by: string;
  reason: string;
}
export interface ShareState {
  percent: number;
  held?: Hold | undefined;
  routes: { route: string; percent: number; held?: Hold | undefined }[];
}

/** Runs the plan to its end, a rollback, or a stop. */
export async function runPlan(plan: Plan, d: PlanDeps): Promise<PlanOutcome> {
  const now = d.now ?? Date.now;
  let stop = false;
  void d.stopped.then(() => (stop = true));
  const sleep = d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const route = plan.route ?? '*';
  const heldOf = (s: ShareState): Hold | undefined => (plan.route === undefined ? s.held : s.routes.find((r) => r.route === plan.route)?.held);
  const shareOf = (s: ShareState): number => (plan.route === undefined ? s.percent : (s.routes.find((r) => r.route === plan.route)?.percent ?? 0));
  let state = await d.read();
  const runId = state.runId;
  const event = (e: Omit<CutoverEvent, 'runId' | 'at' | 'route' | 'by'>) => d.store.putCutoverEvent({ runId, at: new Date(now()).toISOString(), route, by: d.by, ...e }).catch((err: Error) => d.log(`could not put the event on the run's timeline (the store): ${err.message}`));
  const held = heldOf(state);
  if (held) throw new ShadowdiffError('SHADOWDIFF_HELD', `${route === '*' ? 'the global share' : route} is held since ${held.at} by ${held.by}: ${held.reason}. Resume it first: shadowdiff cutover --resume --reason "…"`);
  // Started again: go on from the step the share is at (the first step at or above it).
  const current = shareOf(state);
  let index = current === 0 ? 0 : plan.steps.findIndex((s) => s.percent >= current);
  if (index === -1) index = plan.steps.length - 1;
  let previous: { index: number; percent: number; startedAt: string; base: StepFigures } | undefined;
  for (; index < plan.steps.length; index++) {
    const step = plan.steps[index]!;
    const reason = `plan ${d.file}: step ${index + 1} of ${plan.steps.length}, ${step.percent}%`;
    if (shareOf(state) !== step.percent) await d.set(step.percent, reason);
    const base = figures(await d.store.getRollup(runId), plan.route);
    const ended = previous ? { index: previous.index + 1, percent: previous.percent, startedAt: previous.startedAt, ...minus(base, previous.base) } : undefined;
    const startedAt = new Date(now()).toISOString();
    await event({ kind: 'step', percent: step.percent, reason, step: { index: index + 1, of: plan.steps.length }, ...(ended ? { ended } : {}) });
    d.log(`step ${index + 1}/${plan.steps.length}: ${route} at ${step.percent}%; gates: at least ${step.gates.minCompared} compared, mismatch rate at most ${(step.gates.maxMismatchRate * 100).toFixed(2)}%${step.gates.noCritical ? ', no critical finding' : ''}, ${step.dwellSeconds} s`);
    previous = { index, percent: step.percent, startedAt, base };
    const began = now();
    let holding = '';
    let lastLog = 0;
    for (;;) {
      if (stop) {
        await event({ kind: 'stopped', percent: step.percent, reason: `the plan runner was stopped at step ${index + 1}; the share stays at ${step.percent}%` });
        d.log(`stopped; ${route} stays at ${step.percent}% (run the plan again to go on)`);
        return 'stopped';
      }
      state = await d.read();
      const h = heldOf(state);
      if (h) {
        d.log(`rolled back by ${h.by} at ${h.at}: ${h.reason}. The plan ends; a person resumes with shadowdiff cutover --resume --reason "…"`);
        return 'rolled-back';
      }
      const f = minus(figures(await d.store.getRollup(runId), plan.route), base);
      const { failing, waiting } = gateProblems(step, f, now() - began);
      if (failing.length) {
        const text = failing.join('; ');
        // Said once per kind of failure, not each time its figures move.
        const which = failing.map((t) => t.replace(/[\d.,%]+/g, '#')).join('|');
        if (which !== holding) {
          holding = which;
          d.log(`holding at ${step.percent}%: ${text}`);
          await event({ kind: 'hold', percent: step.percent, reason: `the gates of step ${index + 1} do not hold: ${text}`, evidence: f });
        }
      } else {
        holding = '';
        if (!waiting.length) break;
      }
      if (now() - lastLog >= 30_000) {
        lastLog = now();
        d.log(`step ${index + 1}/${plan.steps.length} at ${step.percent}%: ${f.compared} compared, ${f.mismatched} mismatched, ${f.served} served by the candidate${waiting.length ? `; waiting for ${waiting.join(', ')}` : ''}`);
      }
      await sleep(plan.pollSeconds * 1000);
    }
  }
  const last = plan.steps.at(-1)!;
  const f = minus(figures(await d.store.getRollup(runId), plan.route), previous!.base);
  await event({ kind: 'done', percent: last.percent, reason: `plan ${d.file} completed: ${route} at ${last.percent}%`, ended: { index: plan.steps.length, percent: last.percent, startedAt: previous!.startedAt, ...f } });
  d.log(`done: ${route} at ${last.percent}%`);
  return 'done';
}
