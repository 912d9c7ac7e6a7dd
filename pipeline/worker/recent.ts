// Requests compared lately, so a record that comes after its request was compared (a
// duplicate, an effect beyond the settle window) is recognised as late rather than opening a
// new join. Late records are counted per run and added to its coverage at each rollup flush.
import type { Store } from '../../runtime/store/store';

const RECENT_MS = 10 * 60_000;

export class RecentRequests {
  late = 0;
  private readonly at = new Map<string, number>();
  private readonly lateByRun = new Map<string, number>();

  constructor(private readonly max: number) {}

  has(key: string): boolean {
    return this.at.has(key);
  }

  /** Marks these requests compared (and stored), then forgets the oldest past the bounds. */
  add(keys: Iterable<string>): void {
    const now = Date.now();
    for (const k of keys) this.at.set(k, now);
    const cutoff = now - RECENT_MS;
    for (const [key, at] of this.at) {
      if (at >= cutoff && this.at.size <= this.max) break;
      this.at.delete(key);
    }
  }

  countLate(runId: string): void {
    this.late += 1;
    this.lateByRun.set(runId, (this.lateByRun.get(runId) ?? 0) + 1);
  }

  /** Adds the late records counted since the last flush to their runs' coverage. */
  async flush(store: Store): Promise<void> {
    if (!this.lateByRun.size) return;
    const late = [...this.lateByRun];
    this.lateByRun.clear();
    for (const [runId, n] of late) await store.addCoverage(runId, { 'records after comparison (late)': n });
  }
}
