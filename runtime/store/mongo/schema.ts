// The store's indexes, its layout version and the one migration between layouts, and
// retention: a TTL index where the server has one, an index for the periodic sweep otherwise.
import type { Logger } from '../../../core/logger';
import { type Collections, retained, type UnfoldedDoc } from './documents';
import { insertAbsent } from './insert-absent';

/** A version 2 database keeps the rollup inbox; earlier ones found unfolded comparisons by scanning. */
const LAYOUT = 2;

export async function ensureSchema(c: Collections, log: Logger): Promise<void> {
  // The unique index is what makes concurrent upserts of one comparison safe.
  await c.comparisons.createIndex({ runId: 1, shadowId: 1 }, { unique: true, name: 'run_shadow' });
  await c.comparisons.createIndex({ runId: 1, verdict: 1, shadowId: 1 }, { name: 'run_verdict' });
  await c.comparisons.createIndex({ runId: 1, route: 1, shadowId: 1 }, { name: 'run_route' });
  await c.comparisons.createIndex({ runId: 1, tf: 1 }, { name: 'run_findings' });
  await c.comparisons.createIndex({ runId: 1, vals: 1 }, { name: 'run_values' });
  await c.rolled.createIndex({ runId: 1 }, { name: 'run' });
  await c.unfolded.createIndex({ runId: 1 }, { name: 'run' });
  await c.rollups.createIndex({ runId: 1, v: -1 }, { name: 'run_version' });
  await c.effects.createIndex({ runId: 1, shadowId: 1 }, { name: 'run_shadow' });
  await c.alerts.createIndex({ runId: 1, at: 1 }, { name: 'run_at' });
  await c.cutover.createIndex({ runId: 1, at: 1 }, { name: 'run_at' });
  await c.rules.createIndex({ runId: 1, version: 1 }, { unique: true, name: 'run_version' });
  await migrate(c, log);
  for (const coll of retained(c)) {
    try {
      await coll.createIndex({ expireAt: 1 }, { expireAfterSeconds: 0, name: 'retention' });
    } catch (err) {
      // No TTL indexes here (FerretDB 1.x): `sweep` deletes what expired instead.
      log.info({ collection: coll.collectionName, err: (err as Error).message }, 'no TTL index; retention by periodic sweep');
      await coll.createIndex({ expireAt: 1 }, { name: 'retention_sweep' });
    }
  }
}

/**
 * A database written before the inbox (layout 1) has comparisons that were never folded and
 * have no inbox entry: give each comparison without a marker a `recheck` entry, once.
 */
async function migrate(c: Collections, log: Logger): Promise<void> {
  if (await c.meta.findOne({ _id: 'layout', layout: LAYOUT })) return;
  let entries = 0;
  for (const runId of (await c.comparisons.distinct('runId')) as string[]) {
    const marked = new Set((await c.rolled.find({ runId }, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
    const ids = (await c.comparisons.find({ runId }, { projection: { _id: 1 } }).toArray()).map((d) => d._id).filter((id) => !marked.has(id));
    await insertAbsent(c.unfolded, ids.map((_id): UnfoldedDoc => ({ _id, runId, recheck: true })));
    entries += ids.length;
  }
  await c.meta.replaceOne({ _id: 'layout' }, { layout: LAYOUT }, { upsert: true });
  if (entries) log.info({ entries }, 'rollup inbox filled from a database written by an earlier shadowdiff');
}
