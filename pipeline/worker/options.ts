// The worker's options: the parts it is given, and its tunables with their defaults in one
// schema (an explicit `undefined` takes the default, as an omitted key does).
import { z } from 'zod';
import { ShadowdiffError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { AlertPolicy, RaisedAlert } from '../../compare/alerts';
import type { Comparison, CompiledRules } from '../../compare/engine';
import type { Bus } from '../../runtime/bus/bus';
import type { Store } from '../../runtime/store/store';
import { READABLE } from '../../core/issues';

export const workerTuningSchema = z.object({
  /** Wait after a join is complete, for records that come late (duplicates, extras). */
  settleMs: z.number().min(0).default(100),
  /** Compare anyway (as `incomplete`, naming what is missing) after this long. */
  timeoutMs: z.number().min(0).default(30_000),
  /** Which requests' raw records to keep for drill-down. */
  keepEffects: z.enum(['all', 'non-match', 'none']).default('non-match'),
  /** Largest store write batch, and how long a batch may wait to fill. */
  batchSize: z.number().int().min(1).default(500),
  batchMs: z.number().min(0).default(20),
  /** Every this long a store write goes unacknowledged counts as a store error (a store that stops answering must show). */
  storeDeadlineMs: z.number().min(1).default(10_000),
  rollupFlushMs: z.number().min(1).default(1000),
  sweepMs: z.number().min(1000).default(10 * 60_000),
  /** Requests remembered as compared, so their late records are recognised. */
  recentMax: z.number().int().min(0).default(200_000),
  /** Deliveries after which a record is poison (where the broker does not count: classic queues). */
  maxDeliveries: z.number().int().min(1).default(20),
});

export type WorkerTuning = z.output<typeof workerTuningSchema>;

export interface WorkerOptions extends z.input<typeof workerTuningSchema> {
  bus: Bus;
  store: Store;
  logger: Logger;
  /** The base rules; a run's stored rules (the report edits those) are layered over them. */
  rules?: CompiledRules | undefined;
  alerts?: AlertPolicy | false | undefined;
  /** Where an alert goes besides the log and the store (a webhook). */
  notify?: ((alert: RaisedAlert) => Promise<void>) | undefined;
  now?: (() => Date) | undefined;
  /** The cutover guard: sees each comparison as it is made, before it is stored (guard.ts). */
  guard?: { observe(c: Comparison): void } | undefined;
  /** Each comparison once it is stored, with when its newest record was made (epoch ms; the metrics). */
  observe?: ((c: Comparison, newestRecordAt: number | undefined) => void) | undefined;
}

/** The tunables of `options` with their defaults, frozen; a wrong value is SHADOWDIFF_CONFIG. */
export function workerTuning(options: z.input<typeof workerTuningSchema>): Readonly<WorkerTuning> {
  const r = workerTuningSchema.safeParse(options, READABLE);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ShadowdiffError('SHADOWDIFF_CONFIG', `worker option "${issue.path.join('.')}": ${issue.message}.`, { key: issue.path.join('.') });
  }
  return Object.freeze(r.data);
}
