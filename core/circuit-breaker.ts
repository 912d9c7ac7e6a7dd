// A circuit breaker: consecutive failures open it; after a pause one probe decides whether it
// closes, and after closing it re-admits gradually (`share`), so a target that just recovered
// is not handed a full burst at once. The proxy's mirror targets and the SDK's pre-state
// handoff both use it. Pure: the caller passes the time.
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Consecutive failures open the circuit; after a pause one probe decides whether it closes. */
export class Breaker {
  private state: BreakerState = 'closed';
  private failures = 0;
  private openUntil = 0;
  private probing = false;
  private closedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly onChange: (state: BreakerState) => void = () => {},
    /** After a trip, how long the share of work let through takes to grow back to all of it. */
    private readonly rampMs = 0,
  ) {}

  get current(): BreakerState {
    return this.state;
  }

  allow(now: number): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (now < this.openUntil) return false;
      this.set('half-open');
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  /** A probe that was granted but never sent. */
  release(): void {
    this.probing = false;
  }

  /**
   * The share of work to let through (0 … 1): all of it, except in the `rampMs` after the circuit
   * closed again, when it grows in proportion to the time since.
   */
  share(now: number): number {
    if (this.state !== 'closed') return 0;
    const since = now - this.closedAt;
    return since >= this.rampMs ? 1 : Math.max(0, since / this.rampMs);
  }

  success(now = Date.now()): void {
    this.failures = 0;
    this.probing = false;
    if (this.state !== 'closed') {
      this.closedAt = now;
      this.set('closed');
    }
  }

  failure(now: number): void {
    this.probing = false;
    this.failures += 1;
    if (this.state === 'half-open' || this.failures >= this.threshold) {
      this.openUntil = now + this.openMs;
      if (this.state !== 'open') this.set('open');
    }
  }

  private set(state: BreakerState): void {
    this.state = state;
    this.onChange(state);
  }
}
