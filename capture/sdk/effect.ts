// The generic effect: anything the SDK has no instrumentation for (a partner call, a file, an
// SMS). Live: `perform` runs and the effect is recorded with its outcome. Dry-run: the effect
// is recorded, `perform` never runs, and `dryRunResult` stands in for its result.
import type { EffectKind, EffectRecord } from '../../core/effect';
import { currentContext } from './context';
import { toEffectValue } from '../../core/effect-value';
import { errorText, type Shadow } from './shadow';

export interface EffectSpec {
  kind: Exclude<EffectKind, 'response'>;
  /** What the effect acts on: `<METHOD> <host><path template>` for calls, `<exchange>/<key>` for messages. */
  target: string;
  op?: EffectRecord['op'];
  /** What identifies it among effects on the same target (an order number, an idempotency key). */
  key?: unknown;
  payload?: unknown;
  meta?: Record<string, unknown>;
}

export async function runEffect<T>(shadow: Shadow, spec: EffectSpec, perform: () => T | Promise<T>, dryRunResult?: T | (() => T | Promise<T>)): Promise<T> {
  const ctx = currentContext();
  if (!ctx) return perform();
  let seq = -1;
  let fields: Parameters<Shadow['record']>[2] | undefined;
  try {
    seq = shadow.nextSeq(ctx);
    fields = {
      kind: spec.kind,
      target: spec.target,
      op: spec.op ?? (spec.kind === 'db' ? 'insert' : spec.kind === 'message' ? 'publish' : 'call'),
      key: spec.key === undefined ? undefined : toEffectValue(spec.key),
      payload: spec.payload === undefined ? undefined : toEffectValue(spec.payload),
      meta: spec.meta === undefined ? undefined : (toEffectValue(spec.meta) as Record<string, unknown>),
    };
  } catch (err) {
    shadow.internalError('effect', err);
  }
  if (ctx.mode === 'dry-run') {
    if (fields) shadow.record(ctx, seq, fields);
    return typeof dryRunResult === 'function' ? (dryRunResult as () => T | Promise<T>)() : (dryRunResult as T);
  }
  try {
    const result = await perform();
    if (fields) shadow.record(ctx, seq, fields);
    return result;
  } catch (err) {
    if (fields) shadow.record(ctx, seq, { ...fields, status: 'failed', error: errorText(err) });
    throw err;
  }
}
