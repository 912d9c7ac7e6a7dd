// The handoff in one process: the demo, tests, and the store behind `shadowdiff proxy`'s and
// `shadowdiff replay`'s hosted listener. Linearizable because it is one Map on one thread.
import { applyPut, DEFAULT_HANDOFF_TTL_MS, type Handoff, type HandoffPut, type HandoffSnapshot, type HandoffStoreOptions, snapshotOf } from './handoff';

interface Entry {
  fields: Map<string, string>;
  expires: number;
}

export class MemoryHandoff implements Handoff {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: HandoffStoreOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_HANDOFF_TTL_MS;
    this.sweeper = setInterval(() => this.sweep(Date.now()), Math.min(this.ttlMs, 5_000)).unref();
  }

  /** Requests with a live handoff (for metrics and tests). */
  get size(): number {
    return this.entries.size;
  }

  async put(runId: string, shadowId: string, put: HandoffPut): Promise<void> {
    this.putNow(runId, shadowId, put);
  }

  /** The same as put, synchronously (the hosted server answers without a microtask hop). */
  putNow(runId: string, shadowId: string, put: HandoffPut): void {
    const key = `${runId}\u001f${shadowId}`;
    const now = Date.now();
    let e = this.entries.get(key);
    if (!e || e.expires <= now) {
      e = { fields: new Map(), expires: 0 };
      this.entries.set(key, e);
    }
    applyPut(e.fields, put);
    e.expires = now + this.ttlMs;
  }

  async get(runId: string, shadowId: string): Promise<HandoffSnapshot> {
    return this.getNow(runId, shadowId);
  }

  getNow(runId: string, shadowId: string): HandoffSnapshot {
    const e = this.entries.get(`${runId}\u001f${shadowId}`);
    if (!e || e.expires <= Date.now()) return { images: [], upserts: [] };
    return snapshotOf(e.fields.values());
  }

  /** Forgets every request (the hosted listener's own warm-up). */
  clear(): void {
    this.entries.clear();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  private sweep(now: number): void {
    for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
  }
}
