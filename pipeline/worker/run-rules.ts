// Each run's rules: the base rules with the run's stored rules layered over them (the report's
// "mark as expected" edits those), re-read at most every 5 s for the runs in flight.
import type { Logger } from '../../core/logger';
import { type CompiledRules, compileRules, layerRules } from '../../compare/engine';
import type { Store } from '../../runtime/store/store';

const REFRESH_MS = 5000;

export class RunRules {
  private readonly cache = new Map<string, { rules: CompiledRules; at: number }>();

  constructor(
    private readonly base: CompiledRules | undefined,
    private readonly store: Store,
    private readonly logger: Logger,
  ) {}

  for(runId: string): CompiledRules | undefined {
    return this.cache.get(runId)?.rules ?? this.base;
  }

  async refresh(runs: Iterable<string>): Promise<void> {
    for (const runId of new Set(runs)) {
      const cached = this.cache.get(runId);
      if (cached && Date.now() - cached.at < REFRESH_MS) continue;
      const stored = await this.store.getRules(runId);
      if (!stored) continue;
      try {
        this.cache.set(runId, { rules: layerRules(this.base, compileRules(stored.rules, `rules of run ${runId} v${stored.version}`)), at: Date.now() });
      } catch (err) {
        this.logger.warn({ runId, err: (err as Error).message }, 'stored rules are not valid; using the base rules');
      }
    }
  }
}
