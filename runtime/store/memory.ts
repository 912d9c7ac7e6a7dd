// The embedded store: everything in memory, for the demo and CI replays, and saved to a
// directory (one JSON file per run's metadata, JSONL for the rest) that `report` and `serve`
// open later. Rollups are exact and current: each new comparison is added as it is stored.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SideRecord } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import { parseJson } from '../../core/json';
import type { Comparison } from '../../compare/engine/finding';
import { addComparison, emptyRollup, type Rollup } from '../../compare/engine/rollup';
import { type Alert, type ComparisonQuery, DAY, DEFAULT_RETENTION, type Exchange, type PutResult, type Retention, type RunInfo, type Store, type StoredRules } from './store';

interface RunData {
  info: RunInfo;
  exchanges: Map<string, Exchange>;
  effects: Map<string, Map<string, SideRecord>>;
  comparisons: Map<string, Comparison>;
  rollup: Rollup;
  alerts: Alert[];
  rules: StoredRules[];
  /** When each shadow id's raw records and comparison were stored (ms): for retention. */
  rawAt: Map<string, number>;
  comparedAt: Map<string, number>;
}

const FORMAT = 'shadowdiff-run/1';

export class MemoryStore implements Store {
  private readonly runs = new Map<string, RunData>();
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
        rawAt: new Map(),
        comparedAt: new Map(),
      };
      this.runs.set(runId, r);
    }
    return r;
  }

  async putRun(run: RunInfo): Promise<void> {
    const r = this.run(run.runId);
    // Coverage counters only ever grow, through addCoverage.
    const { coverage: _ignored, ...rest } = run;
    r.info = { ...r.info, ...rest, ...(r.info.coverage ? { coverage: r.info.coverage } : {}) };
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

  async putComparisons(comparisons: readonly Comparison[]): Promise<PutResult> {
    let inserted = 0;
    for (const c of comparisons) {
      const r = this.run(c.runId);
      if (r.comparisons.has(c.shadowId)) continue;
      r.comparisons.set(c.shadowId, c);
      r.comparedAt.set(c.shadowId, Date.now());
      addComparison(r.rollup, c);
      inserted += 1;
    }
    return { inserted, existing: comparisons.length - inserted };
  }

  async replaceComparisons(comparisons: readonly Comparison[]): Promise<number> {
    let replaced = 0;
    const runs = new Set<string>();
    for (const c of comparisons) {
      const r = this.runs.get(c.runId);
      if (!r?.comparisons.has(c.shadowId)) continue;
      r.comparisons.set(c.shadowId, c);
      runs.add(c.runId);
      replaced += 1;
    }
    for (const runId of runs) {
      const r = this.run(runId);
      r.rollup = emptyRollup(runId);
      for (const c of r.comparisons.values()) addComparison(r.rollup, c);
    }
    return replaced;
  }

  async getComparison(runId: string, shadowId: string): Promise<Comparison | undefined> {
    return this.runs.get(runId)?.comparisons.get(shadowId);
  }

  async listComparisons(q: ComparisonQuery): Promise<Comparison[]> {
    const all = [...(this.runs.get(q.runId)?.comparisons.values() ?? [])];
    const out = all.filter(
      (c) =>
        (q.verdict === undefined || c.verdict === q.verdict) &&
        (q.route === undefined || c.route === q.route) &&
        (q.after === undefined || c.shadowId > q.after) &&
        (q.target === undefined || c.findings.some((f) => f.target === q.target && (q.field === undefined || f.field === q.field))),
    );
    out.sort((a, b) => (a.shadowId < b.shadowId ? -1 : a.shadowId > b.shadowId ? 1 : 0));
    return out.slice(0, q.limit ?? 100);
  }

  async countComparisons(runId: string): Promise<number> {
    return this.runs.get(runId)?.comparisons.size ?? 0;
  }

  async flushRollups(): Promise<void> {}

  async getRollup(runId: string): Promise<Rollup> {
    return structuredClone(this.runs.get(runId)?.rollup ?? emptyRollup(runId));
  }

  async putAlert(alert: Alert): Promise<void> {
    this.run(alert.runId).alerts.push(alert);
  }

  async listAlerts(runId: string): Promise<Alert[]> {
    return [...(this.runs.get(runId)?.alerts ?? [])];
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
        ['run.json', JSON.stringify({ format: FORMAT, runs: runs.map((r) => ({ info: r.info, rollup: r.rollup, alerts: r.alerts, rules: r.rules })) }, null, 1)],
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
    const meta = parseJson(await read('run.json'), `${dir}/run.json`) as { format?: string; runs?: { info: RunInfo; rollup: Rollup; alerts: Alert[]; rules: StoredRules[] }[] };
    if (meta.format !== FORMAT || !Array.isArray(meta.runs)) {
      throw new ShadowdiffError('SHADOWDIFF_IO', `${dir}/run.json is not a saved shadowdiff run (format ${JSON.stringify(meta.format)}, expected ${FORMAT}).`, { dir });
    }
    for (const m of meta.runs) {
      const r = this.run(m.info.runId);
      Object.assign(r, { info: m.info, rollup: m.rollup, alerts: m.alerts, rules: m.rules });
    }
    const each = (text: string, name: string) =>
      text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l, i) => parseJson(l, `${dir}/${name}:${i + 1}`));
    for (const c of each(await read('comparisons.jsonl'), 'comparisons.jsonl') as Comparison[]) {
      const r = this.run(c.runId);
      r.comparisons.set(c.shadowId, c);
      r.comparedAt.set(c.shadowId, Date.now());
    }
    await this.putEffects(each(await read('effects.jsonl'), 'effects.jsonl') as SideRecord[]);
    await this.putExchanges(each(await read('exchanges.jsonl'), 'exchanges.jsonl') as Exchange[]);
  }
}
