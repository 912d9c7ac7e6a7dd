// Re-evaluating a run under its current rules (the stored ones over the workers' base rules):
// every stored comparison that did not match and whose records were kept is compared again from
// those records, and the results replace the old ones. Matches keep no records and cannot change
// under rules that only relax (ignore, tolerate, key); they are left as they are.
//
// A run may hold millions of comparisons and shares its store with the workers, so this is a
// background job, not a request: it goes in batches (one read of the comparisons, one of their
// records and exchanges, then the replacements in small writes), rests after each store call as
// long as the call took, so the workers' writes get at least half the store's time, and
// rebuilds the rollup once, at its end. A comparison that comes out the same is not written
// again. Its progress lives in the store: one job per run, cancellable, and a job whose process
// stopped is resumed from its cursor by the next one.
//
// Why small writes: on a server without usable secondary indexes (FerretDB 1.x, the test
// server) every replace scans the collection, and a bulk replace of a whole batch held the
// store for tens of seconds: the workers' writes missed their deadline behind it.
import { randomUUID } from 'node:crypto';
import { bounded, compare, type Comparison, type CompiledRules, compileRules, layerRules } from '../compare/engine';
import { Join } from '../compare/join';
import { ShadowdiffError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { ReevaluationJob, Store } from '../runtime/store/store';

export type { ReevaluationJob } from '../runtime/store/store';

export interface ReevaluatorOptions {
  store: Store;
  logger: Logger;
  /** The rules the run's workers were started with (the stored ones are layered over them). */
  rules?: CompiledRules | undefined;
  /** Comparisons per batch. */
  batch?: number;
  /** Comparisons per replacing write (several per batch). */
  writeChunk?: number;
  /** Rest after each store call for this many times what it took (1: the store is ours half the time at most). */
  restRatio?: number;
  /** A running job whose owner has not written for this long is taken over (its process stopped). */
  staleMs?: number;
  /** Attempts at one batch before the job fails (a store that keeps refusing). */
  attempts?: number;
}

const VERDICTS = ['mismatch', 'error'] as const;
const EPOCH = new Date(0).toISOString();

export class Reevaluator {
  /** This process, as a job's owner. */
  readonly owner = randomUUID();
  private readonly running = new Map<string, Promise<ReevaluationJob>>();
  private closed = false;
  private readonly batch: number;
  private readonly writeChunk: number;
  private readonly restRatio: number;
  private readonly staleMs: number;
  private readonly attempts: number;
  /** Rests in progress, cut short by close(). */
  private readonly resting = new Set<() => void>();

  constructor(private readonly o: ReevaluatorOptions) {
    this.batch = o.batch ?? 200;
    this.writeChunk = o.writeChunk ?? 20;
    this.restRatio = o.restRatio ?? 1;
    this.staleMs = o.staleMs ?? 60_000;
    this.attempts = o.attempts ?? 5;
  }

  /**
   * Starts the run's re-evaluation, or resumes one left failed or by a process that stopped.
   * Refuses (SHADOWDIFF_BUSY) while one is running. Returns the job as stored; it goes on in the
   * background (`wait` for its end).
   */
  async start(runId: string, by?: string): Promise<ReevaluationJob> {
    if (this.closed) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', 'the report is shutting down; start the re-evaluation again once it is back.');
    const { store } = this.o;
    const existing = await store.getJob(runId);
    if (existing?.state === 'running' && (this.running.has(runId) || !this.stale(existing))) throw busy(existing);
    const now = new Date().toISOString();
    const resume = existing && (existing.state === 'running' || existing.state === 'failed');
    const job: ReevaluationJob = resume
      ? { ...existing, state: 'running', owner: this.owner, heartbeatAt: now, updatedAt: now, cancelRequested: false, ...(by ? { by } : {}) }
      : await this.fresh(runId, now, by);
    delete job.error;
    delete job.finishedAt;
    if (!(await store.putJob(job, existing ? { owner: existing.owner, heartbeatAt: existing.heartbeatAt } : undefined))) {
      throw busy((await store.getJob(runId)) ?? job); // another process started or took it meanwhile
    }
    this.o.logger.info({ runId, total: job.total, rulesVersion: job.rulesVersion, resumed: Boolean(resume), by }, resume ? 're-evaluation resumed' : 're-evaluation started');
    this.launch(job);
    return job;
  }

  /** The run's latest job, running or ended; undefined if it never had one. */
  status(runId: string): Promise<ReevaluationJob | undefined> {
    return this.o.store.getJob(runId);
  }

  /**
   * Asks the run's running job to stop after its batch (the rollup is rebuilt with what it
   * replaced). A job whose process stopped is ended here. Refuses when none is running.
   */
  async cancel(runId: string): Promise<ReevaluationJob> {
    const { store } = this.o;
    const job = await store.cancelJob(runId);
    if (!job) {
      const last = await store.getJob(runId);
      throw new ShadowdiffError('SHADOWDIFF_BUSY', `no re-evaluation of run ${JSON.stringify(runId)} is running${last ? ` (the last one ${last.state} at ${last.finishedAt ?? last.updatedAt})` : ''}; there is nothing to cancel.`);
    }
    this.o.logger.info({ runId }, 're-evaluation cancel asked for');
    if (!this.running.has(runId) && this.stale(job)) {
      // Nobody runs it: end it here, with the rollup rebuilt over what it replaced.
      const now = new Date().toISOString();
      const mine = { ...job, owner: this.owner, heartbeatAt: now };
      if (await store.putJob(mine, { owner: job.owner, heartbeatAt: job.heartbeatAt })) return this.end(mine, 'cancelled');
    }
    return job;
  }

  /** Resumes the running jobs whose processes stopped (at start: `shadowdiff serve` calls it). Returns their runs. */
  async resumeStale(): Promise<string[]> {
    const resumed: string[] = [];
    for (const job of await this.o.store.listJobs()) {
      if (job.state !== 'running' || this.running.has(job.runId) || !this.stale(job)) continue;
      try {
        await this.start(job.runId);
        resumed.push(job.runId);
      } catch (err) {
        if (!(err instanceof ShadowdiffError && err.code === 'SHADOWDIFF_BUSY')) throw err;
      }
    }
    return resumed;
  }

  /** The job's end, if this process runs it; otherwise its state now. */
  async wait(runId: string): Promise<ReevaluationJob | undefined> {
    return (await this.running.get(runId)) ?? this.o.store.getJob(runId);
  }

  /**
   * Stops this process's jobs after their current batch and leaves them running in the store,
   * with a heartbeat that says their owner is gone: the next process resumes them at once.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.resting) wake();
    await Promise.allSettled(this.running.values());
  }

  private stale(job: ReevaluationJob): boolean {
    return Date.now() - Date.parse(job.heartbeatAt) > this.staleMs;
  }

  private async fresh(runId: string, now: string, by: string | undefined): Promise<ReevaluationJob> {
    const { store } = this.o;
    const [rules, ...counts] = await Promise.all([store.getRules(runId), ...VERDICTS.map((v) => store.countComparisons(runId, v))]);
    const total = counts.reduce((a, b) => a + b, 0);
    return {
      runId,
      state: 'running',
      rulesVersion: rules?.version ?? null,
      total,
      reevaluated: 0,
      changed: 0,
      withoutRecords: 0,
      cursor: { verdict: 'mismatch', after: null },
      startedAt: now,
      updatedAt: now,
      ...(by ? { by } : {}),
      owner: this.owner,
      heartbeatAt: now,
    };
  }

  private launch(job: ReevaluationJob): void {
    const done = this.run(job)
      .catch(async (err: unknown) => {
        const error = (err as Error).message;
        this.o.logger.error({ runId: job.runId, err: error }, 're-evaluation failed; start it again to resume where it stopped');
        const now = new Date().toISOString();
        return (await this.o.store.updateJob(job.runId, this.owner, { state: 'failed', error, updatedAt: now, finishedAt: now }).catch(() => undefined)) ?? { ...job, state: 'failed' as const, error };
      })
      .finally(() => this.running.delete(job.runId));
    this.running.set(job.runId, done);
  }

  private async run(start: ReevaluationJob): Promise<ReevaluationJob> {
    const { store, logger } = this.o;
    const { runId } = start;
    let job = start;
    const stored = await store.getRules(runId);
    if ((stored?.version ?? null) !== job.rulesVersion && (job.reevaluated > 0 || job.withoutRecords > 0)) {
      // The rules changed since it started: what it did is under the old ones. Start over.
      logger.info({ runId, from: job.rulesVersion, to: stored?.version ?? null }, 'the rules changed since the re-evaluation started; starting over');
      const over = await this.fresh(runId, new Date().toISOString(), job.by);
      job = (await store.updateJob(runId, this.owner, over)) ?? job;
      if (job.owner !== this.owner) return job;
    }
    const rules = stored ? layerRules(this.o.rules, compileRules(stored.rules, `rules of run ${runId} v${stored.version}`)) : this.o.rules;
    for (;;) {
      if (this.closed) {
        // Left running, with a heartbeat that lets the next process resume it at once.
        return (await store.updateJob(runId, this.owner, { heartbeatAt: EPOCH }).catch(() => undefined)) ?? job;
      }
      const step = await this.withRetry(runId, () => this.step(job, rules));
      const now = new Date().toISOString();
      const next = await this.withRetry(runId, () => this.paced(() => store.updateJob(runId, this.owner, { ...step.progress, updatedAt: now, heartbeatAt: now })));
      if (!next) {
        logger.warn({ runId }, 're-evaluation taken over by another process; this one stops');
        return job;
      }
      job = next;
      if (step.last) return this.end(job, 'done');
      if (job.cancelRequested) return this.end(job, 'cancelled');
    }
  }

  /** One batch: read, compare again, replace what came out otherwise. */
  private async step(job: ReevaluationJob, rules: CompiledRules | undefined): Promise<{ progress: Partial<ReevaluationJob>; last: boolean }> {
    const { store } = this.o;
    const { runId } = job;
    const { verdict, after } = job.cursor;
    const page = await this.paced(() => store.listComparisons({ runId, verdict, limit: this.batch, ...(after !== null ? { after } : {}) }));
    const ids = page.map((c) => c.shadowId);
    const [effects, exchanges] = await this.paced(() => Promise.all([store.getEffectsOf(runId, ids), store.getExchangesOf(runId, ids)]));
    const comparedAt = new Date().toISOString();
    const replaced: Comparison[] = [];
    let reevaluated = 0;
    let changed = 0;
    let withoutRecords = 0;
    for (const old of page) {
      const records = effects.get(old.shadowId);
      if (!records?.length) {
        withoutRecords += 1;
        continue;
      }
      const join = new Join();
      let entry = join.add(records[0]!);
      for (const r of records.slice(1)) entry = join.add(r);
      const exchange = exchanges.get(old.shadowId);
      if (exchange) entry = join.add({ v: 1, type: 'exchange', ...exchange });
      const c = bounded(compare(entry, { now: comparedAt, ...(rules ? { rules } : {}) }));
      reevaluated += 1;
      if (c.verdict !== old.verdict) changed += 1;
      if (!sameResult(c, old)) replaced.push(c);
    }
    // Replacing is idempotent, so a batch retried, or redone after a restart, counts once in the store.
    for (let i = 0; i < replaced.length; i += this.writeChunk) {
      const chunk = replaced.slice(i, i + this.writeChunk);
      await this.paced(() => store.replaceComparisons(chunk));
    }
    const full = page.length === this.batch;
    const at = VERDICTS.indexOf(verdict);
    const cursor: ReevaluationJob['cursor'] = full ? { verdict, after: ids.at(-1)! } : { verdict: VERDICTS[at + 1] ?? verdict, after: null };
    return {
      progress: { reevaluated: job.reevaluated + reevaluated, changed: job.changed + changed, withoutRecords: job.withoutRecords + withoutRecords, cursor },
      last: !full && at === VERDICTS.length - 1,
    };
  }

  /** The rollup rebuilt over what was replaced, and the job ended. */
  private async end(job: ReevaluationJob, state: 'done' | 'cancelled'): Promise<ReevaluationJob> {
    const { store, logger } = this.o;
    if (job.reevaluated > 0) await this.withRetry(job.runId, () => store.rebuildRollup(job.runId));
    const now = new Date().toISOString();
    const ended = (await store.updateJob(job.runId, this.owner, { state, updatedAt: now, finishedAt: now, heartbeatAt: now })) ?? { ...job, state };
    logger.info({ runId: job.runId, state, reevaluated: ended.reevaluated, changed: ended.changed, withoutRecords: ended.withoutRecords, rulesVersion: ended.rulesVersion }, `re-evaluation ${state}`);
    return ended;
  }

  private async withRetry<T>(runId: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (attempt >= this.attempts) throw err;
        const delay = 500 * 2 ** (attempt - 1);
        this.o.logger.warn({ runId, err: (err as Error).message, attempt, retryInMs: delay }, 're-evaluation: a store call failed; retrying');
        await this.rest(delay);
      }
    }
  }

  /** One store call, then a rest as long as it took (times restRatio): the store's time is shared. */
  private async paced<T>(call: () => Promise<T>): Promise<T> {
    const began = performance.now();
    const out = await call();
    await this.rest((performance.now() - began) * this.restRatio);
    return out;
  }

  private rest(ms: number): Promise<void> {
    // A call under a millisecond (the embedded store) took nothing worth sharing.
    if (this.closed || ms < 1) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.resting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.min(ms, 5_000));
      this.resting.add(wake);
    });
  }
}

/** The same verdict and findings as the stored comparison: only when it was compared differs. */
function sameResult(c: Comparison, old: Comparison): boolean {
  return JSON.stringify({ ...c, comparedAt: old.comparedAt }) === JSON.stringify(old);
}

function busy(job: ReevaluationJob): ShadowdiffError {
  const run = JSON.stringify(job.runId);
  return new ShadowdiffError(
    'SHADOWDIFF_BUSY',
    `run ${run} is being re-evaluated: ${job.reevaluated + job.withoutRecords} of ${job.total} done, started ${job.startedAt}${job.by ? ` by ${job.by}` : ''}. GET /api/runs/${encodeURIComponent(job.runId)}/reevaluate follows it; DELETE cancels it.`,
    { job },
  );
}
