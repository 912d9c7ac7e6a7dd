// The embedded store: everything in memory, for the demo and CI replays, and saved to a
// directory (one JSON file per run's metadata, JSONL for the rest) that `report` and `serve`
// open later. Rollups are exact and current: each new comparison is added as it is stored.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SideRecord } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import { parseJson } from '../../core/json';
import { DEFAULT_RETENTION } from '../../core/settings';
import { addComparison, type Comparison, emptyRollup, type Rollup, type Verdict } from '../../compare/engine';
import { type Alert, type ComparisonQuery, type CutoverEvent, DAY, type Exchange, type ProxyCoverage, type PutResult, type ReevaluationJob, type Retention, type RunDataCounts, type RunInfo, searchValues, type Store, type StoredRules } from './store';

interface RunData {
  info: RunInfo;
  exchanges: Map<string, Exchange>;
  effects: Map<string, Map<string, SideRecord>>;
  comparisons: Map<string, Comparison>;
  rollup: Rollup;
  alerts: Alert[];
  rules: StoredRules[];
  cutover: CutoverEvent[];
  /** When each shadow id's raw records and comparison were stored (ms): for retention. */
  rawAt: Map<string, number>;
  comparedAt: Map<string, number>;
  /** Shadow ids in order, and those stored since it was last sorted: pages need no sort of the run. */
  order: string[];
  unsorted: string[];
}

const FORMAT = 'shadowdiff-run/1';

export class MemoryStore implements Store {
  private readonly runs = new Map<string, RunData>();
  private readonly jobs = new Map<string, ReevaluationJob>();
  private readonly retention: Retention;

  constructor(options: { retention?: Retention } = {}) {
    this.retention = options.retention ?? DEFAULT_RETENTION;
  }

  /** Opens a directory written by `save`. */
  static async open(dir: string): Promise<MemoryStore> {
    const store = new MemoryStore();
    await store.load(dir);
    return store;
  }

  async init(): Promise<void> {}

  private run(runId: string): RunData {
    let r = this.runs.get(runId);
    if (!r) {
      r = {
        info: { runId, createdAt: new Date().toISOString() },
        exchanges: new Map(),
        effects: new Map(),
        comparisons: new Map(),
        rollup: emptyRollup(runId),
        alerts: [],
        rules: [],
        cutover: [],
        rawAt: new Map(),
        comparedAt: new Map(),
        order: [],
        unsorted: [],
      };
      this.runs.set(runId, r);
    }
    return r;
  }

  async putRun(run: RunInfo): Promise<void> {
    const r = this.run(run.runId);
    // Coverage counters only ever grow, through addCoverage and putProxyCoverage.
    const { coverage: _ignored, proxies: _also, ...rest } = run;
    r.info = { ...r.info, ...rest, ...(r.info.coverage ? { coverage: r.info.coverage } : {}), ...(r.info.proxies ? { proxies: r.info.proxies } : {}) };
  }

  async putProxyCoverage(runId: string, source: string, totals: ProxyCoverage): Promise<void> {
    const info = this.run(runId).info;
    info.source ??= 'proxy';
    const proxies = (info.proxies ??= {});
    const had = proxies[source];
    const notMirrored: Record<string, number> = { ...had?.notMirrored };
    for (const [why, n] of Object.entries(totals.notMirrored)) notMirrored[why] = Math.max(notMirrored[why] ?? 0, n);
    proxies[source] = {
      at: had && had.at > totals.at ? had.at : totals.at,
      seen: Math.max(had?.seen ?? 0, totals.seen),
      mirrored: Math.max(had?.mirrored ?? 0, totals.mirrored),
      notMirrored,
      dropped: Math.max(had?.dropped ?? 0, totals.dropped),
    };
  }

  async ensureRun(runId: string, source?: RunInfo['source']): Promise<void> {
    const created = !this.runs.has(runId);
    const info = this.run(runId).info;
    if (created && source) info.source = source;
  }

  async getRun(runId: string): Promise<RunInfo | undefined> {
    return this.runs.get(runId)?.info;
  }

  async listRuns(): Promise<RunInfo[]> {
    return [...this.runs.values()].map((r) => r.info).sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  }

  async addCoverage(runId: string, counts: Record<string, number>): Promise<void> {
    const info = this.run(runId).info;
    const coverage = (info.coverage ??= {});
    for (const [k, n] of Object.entries(counts)) coverage[k] = (coverage[k] ?? 0) + n;
  }

  async putExchanges(exchanges: readonly Exchange[]): Promise<void> {
    for (const x of exchanges) {
      const r = this.run(x.runId);
      r.exchanges.set(x.shadowId, x);
      r.rawAt.set(x.shadowId, Date.now());
    }
  }

  async getExchange(runId: string, shadowId: string): Promise<Exchange | undefined> {
    return this.runs.get(runId)?.exchanges.get(shadowId);
  }

  async putEffects(records: readonly SideRecord[]): Promise<void> {
    for (const rec of records) {
      const run = this.run(rec.runId);
      const byId = run.effects;
      run.rawAt.set(rec.shadowId, Date.now());
      let recs = byId.get(rec.shadowId);
      if (!recs) byId.set(rec.shadowId, (recs = new Map()));
      recs.set(`${rec.side}/${rec.type === 'end' ? 'end' : rec.seq}`, rec);
    }
  }

  async getEffects(runId: string, shadowId: string): Promise<SideRecord[]> {
    return [...(this.runs.get(runId)?.effects.get(shadowId)?.values() ?? [])];
  }

  async getEffectsOf(runId: string, shadowIds: readonly string[]): Promise<Map<string, SideRecord[]>> {
    const out = new Map<string, SideRecord[]>();
    for (const id of shadowIds) {
      const recs = this.runs.get(runId)?.effects.get(id);
      if (recs?.size) out.set(id, [...recs.values()]);
    }
    return out;
  }

  async getExchangesOf(runId: string, shadowIds: readonly string[]): Promise<Map<string, Exchange>> {
    const out = new Map<string, Exchange>();
    for (const id of shadowIds) {
      const x = this.runs.get(runId)?.exchanges.get(id);
      if (x) out.set(id, x);
    }
    return out;
  }

  async putComparisons(comparisons: readonly Comparison[]): Promise<PutResult> {
    let inserted = 0;
    for (const c of comparisons) {
      const r = this.run(c.runId);
      if (r.comparisons.has(c.shadowId)) continue;
      r.comparisons.set(c.shadowId, c);
      r.unsorted.push(c.shadowId);
      r.comparedAt.set(c.shadowId, Date.now());
      addComparison(r.rollup, c);
      inserted += 1;
    }
    return { inserted, existing: comparisons.length - inserted };
  }

  async replaceComparisons(comparisons: readonly Comparison[]): Promise<number> {
    let replaced = 0;
    for (const c of comparisons) {
      const r = this.runs.get(c.runId);
      if (!r?.comparisons.has(c.shadowId)) continue;
      r.comparisons.set(c.shadowId, c);
      replaced += 1;
    }
    return replaced;
  }

  async rebuildRollup(runId: string): Promise<void> {
    const r = this.runs.get(runId);
    if (!r) return;
    r.rollup = emptyRollup(runId);
    for (const c of r.comparisons.values()) addComparison(r.rollup, c);
  }

  async getJob(runId: string): Promise<ReevaluationJob | undefined> {
    const job = this.jobs.get(runId);
    return job && structuredClone(job);
  }

  async listJobs(): Promise<ReevaluationJob[]> {
    return [...this.jobs.values()].map((j) => structuredClone(j));
  }

  async putJob(job: ReevaluationJob, expected?: Pick<ReevaluationJob, 'owner' | 'heartbeatAt'>): Promise<boolean> {
    const stored = this.jobs.get(job.runId);
    if (expected ? stored?.owner !== expected.owner || stored.heartbeatAt !== expected.heartbeatAt : stored) return false;
    this.jobs.set(job.runId, structuredClone(job));
    return true;
  }

  async updateJob(runId: string, owner: string, patch: Partial<ReevaluationJob>): Promise<ReevaluationJob | undefined> {
    const stored = this.jobs.get(runId);
    if (stored?.owner !== owner) return undefined;
    Object.assign(stored, structuredClone(patch));
    return structuredClone(stored);
  }

  async cancelJob(runId: string): Promise<ReevaluationJob | undefined> {
    const stored = this.jobs.get(runId);
    if (stored?.state !== 'running') return undefined;
    stored.cancelRequested = true;
    return structuredClone(stored);
  }

  async getComparison(runId: string, shadowId: string): Promise<Comparison | undefined> {
    return this.runs.get(runId)?.comparisons.get(shadowId);
  }

  async listComparisons(q: ComparisonQuery): Promise<Comparison[]> {
    const r = this.runs.get(q.runId);
    if (!r) return [];
    const order = ordered(r);
    const since = q.since === undefined ? undefined : Date.parse(q.since);
    const until = q.until === undefined ? undefined : Date.parse(q.until);
    const limit = q.limit ?? 100;
    const out: Comparison[] = [];
    for (let i = q.after === undefined ? 0 : firstAfter(order, q.after); i < order.length && out.length < limit; i++) {
      const c = r.comparisons.get(order[i]!);
      if (!c) continue; // swept
      if (q.verdict !== undefined && c.verdict !== q.verdict) continue;
      if (q.route !== undefined && c.route !== q.route) continue;
      if (q.target !== undefined && !c.findings.some((f) => f.target === q.target && (q.field === undefined || f.field === q.field))) continue;
      if (since !== undefined || until !== undefined) {
        const at = Date.parse(c.comparedAt);
        if ((since !== undefined && at < since) || (until !== undefined && at >= until)) continue;
      }
      if (q.value !== undefined && !searchValues(c).includes(q.value)) continue;
      out.push(c);
    }
    return out;
  }

  async countComparisons(runId: string, verdict?: Verdict): Promise<number> {
    const r = this.runs.get(runId);
    if (!r || verdict === undefined) return r?.comparisons.size ?? 0;
    let n = 0;
    for (const c of r.comparisons.values()) if (c.verdict === verdict) n += 1;
    return n;
  }

  /** Rollups are kept current as comparisons are put. */
  async flushRollups(): Promise<boolean> {
    return true;
  }

  async getRollup(runId: string): Promise<Rollup> {
    return structuredClone(this.runs.get(runId)?.rollup ?? emptyRollup(runId));
  }

  async runData(runId: string): Promise<RunDataCounts> {
    const r = this.runs.get(runId);
    if (!r) return { run: 0, comparisons: 0, records: 0, exchanges: 0, rollups: 0, alerts: 0, rules: 0, jobs: this.jobs.has(runId) ? 1 : 0, cutover: 0 };
    let records = 0;
    for (const m of r.effects.values()) records += m.size;
    return { run: 1, comparisons: r.comparisons.size, records, exchanges: r.exchanges.size, rollups: Object.keys(r.rollup.routes).length ? 1 : 0, alerts: r.alerts.length, rules: r.rules.length, jobs: this.jobs.has(runId) ? 1 : 0, cutover: r.cutover.length };
  }

  async deleteRun(runId: string): Promise<RunDataCounts> {
    const counts = await this.runData(runId);
    this.runs.delete(runId);
    this.jobs.delete(runId);
    return counts;
  }

  async putAlert(alert: Alert): Promise<void> {
    this.run(alert.runId).alerts.push(alert);
  }

  async listAlerts(runId: string): Promise<Alert[]> {
    return [...(this.runs.get(runId)?.alerts ?? [])];
  }

  async putCutoverEvent(event: CutoverEvent): Promise<void> {
    const list = this.run(event.runId).cutover;
    if (list.some((e) => e.at === event.at && e.kind === event.kind && e.route === event.route)) return;
    list.push(structuredClone(event));
    list.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  }

  async listCutoverEvents(runId: string): Promise<CutoverEvent[]> {
    return structuredClone((this.runs.get(runId)?.cutover ?? []).slice(0, 10_000));
  }

  async putRules(runId: string, rules: unknown, meta: { reason: string; author: string }): Promise<number> {
    const list = this.run(runId).rules;
    const version = list.length + 1;
    list.push({ runId, version, rules, ...meta, createdAt: new Date().toISOString() });
    return version;
  }

  async getRules(runId: string): Promise<StoredRules | undefined> {
    return this.runs.get(runId)?.rules.at(-1);
  }

  async sweep(now: Date): Promise<number> {
    let removed = 0;
    const rawBefore = now.getTime() - this.retention.rawDays * DAY;
    const resultBefore = now.getTime() - this.retention.resultDays * DAY;
    for (const r of this.runs.values()) {
      for (const [id, at] of r.rawAt) {
        if (at >= rawBefore) continue;
        removed += (r.effects.get(id)?.size ?? 0) + (r.exchanges.has(id) ? 1 : 0);
        r.effects.delete(id);
        r.exchanges.delete(id);
        r.rawAt.delete(id);
      }
      for (const [id, at] of r.comparedAt) {
        if (at >= resultBefore) continue;
        removed += r.comparisons.delete(id) ? 1 : 0;
        r.comparedAt.delete(id);
      }
      if (r.order.length > r.comparisons.size) r.order = r.order.filter((id) => r.comparisons.has(id));
    }
    return removed;
  }

  async close(): Promise<void> {}

  /** Writes every run to `dir` (created if missing); files are replaced atomically. */
  async save(dir: string): Promise<void> {
    try {
      await mkdir(dir, { recursive: true });
      const runs = [...this.runs.values()];
      const lines = (xs: Iterable<unknown>) => [...xs].map((x) => `${JSON.stringify(x)}\n`).join('');
      const files: [string, string][] = [
        ['run.json', JSON.stringify({ format: FORMAT, runs: runs.map((r) => ({ info: r.info, rollup: r.rollup, alerts: r.alerts, rules: r.rules, cutover: r.cutover })) }, null, 1)],
        ['comparisons.jsonl', lines(runs.flatMap((r) => [...r.comparisons.values()]))],
        ['effects.jsonl', lines(runs.flatMap((r) => [...r.effects.values()].flatMap((m) => [...m.values()])))],
        ['exchanges.jsonl', lines(runs.flatMap((r) => [...r.exchanges.values()]))],
      ];
      for (const [name, text] of files) {
        const tmp = join(dir, `.${name}.tmp`);
        await writeFile(tmp, text);
        await rename(tmp, join(dir, name));
      }
    } catch (err) {
      throw new ShadowdiffError('SHADOWDIFF_STORE', `cannot save the run to ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { dir }, { cause: err });
    }
  }

  private async load(dir: string): Promise<void> {
    const read = async (name: string) => {
      try {
        return await readFile(join(dir, name), 'utf8');
      } catch (err) {
        throw new ShadowdiffError('SHADOWDIFF_IO', `cannot open saved run ${dir}: ${name} ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (is it a directory written by shadowdiff?).`, { dir });
      }
    };
    const meta = parseJson(await read('run.json'), `${dir}/run.json`) as { format?: string; runs?: { info: RunInfo; rollup: Rollup; alerts: Alert[]; rules: StoredRules[]; cutover?: CutoverEvent[] }[] };
    if (meta.format !== FORMAT || !Array.isArray(meta.runs)) {
      throw new ShadowdiffError('SHADOWDIFF_IO', `${dir}/run.json is not a saved shadowdiff run (format ${JSON.stringify(meta.format)}, expected ${FORMAT}).`, { dir });
    }
    for (const m of meta.runs) {
      const r = this.run(m.info.runId);
      Object.assign(r, { info: m.info, rollup: m.rollup, alerts: m.alerts, rules: m.rules, cutover: m.cutover ?? [] });
    }
    const each = (text: string, name: string) =>
      text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l, i) => parseJson(l, `${dir}/${name}:${i + 1}`));
    for (const c of each(await read('comparisons.jsonl'), 'comparisons.jsonl') as Comparison[]) {
      const r = this.run(c.runId);
      if (!r.comparisons.has(c.shadowId)) r.unsorted.push(c.shadowId);
      r.comparisons.set(c.shadowId, c);
      r.comparedAt.set(c.shadowId, Date.now());
    }
    await this.putEffects(each(await read('effects.jsonl'), 'effects.jsonl') as SideRecord[]);
    await this.putExchanges(each(await read('exchanges.jsonl'), 'exchanges.jsonl') as Exchange[]);
  }
}

/** The run's shadow ids in order: what was stored since the last call is sorted and merged in. */
function ordered(r: RunData): string[] {
  if (!r.unsorted.length) return r.order;
  const added = r.unsorted.sort();
  r.unsorted = [];
  const merged: string[] = new Array(r.order.length + added.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < r.order.length && j < added.length) merged[k++] = r.order[i]! <= added[j]! ? r.order[i++]! : added[j++]!;
  while (i < r.order.length) merged[k++] = r.order[i++]!;
  while (j < added.length) merged[k++] = added[j++]!;
  r.order = merged;
  return merged;
}

/** The index of the first id greater than `after`. */
function firstAfter(order: readonly string[], after: string): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (order[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
