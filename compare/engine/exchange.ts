// The exchange in the comparison: the request and responses the proxy or replay recorded in
// front of the services stand in for what an SDK did not record.
import type { EffectRecord, Side } from '../../core/effect';
import type { CompareInput, SideInput } from './input';

/** The seq of a `response` effect taken from the exchange: recorded in front of the service, not by it. */
export const EXCHANGE_RESPONSE_SEQ = -1;

/**
 * Folds the recorder's exchange into the sides: each response becomes that side's `response`
 * effect unless its SDK recorded one; for services without the SDK it also stands in for the
 * end marker; a side that never answered is named with the reason.
 */
export function withExchange(input: CompareInput): CompareInput {
  const x = input.exchange;
  if (!x) return input;
  // sdk:false: the exchange is the whole comparison; records an SDK sent anyway are left out.
  const own = x.sdk !== false;
  const side = (name: Side, given: SideInput | undefined): SideInput | undefined => {
    const r = x.responses[name];
    if (!r) return own ? given : undefined;
    let effects = own ? (given?.effects ?? []) : [];
    let end = own ? given?.end : undefined;
    if (r.error !== undefined || r.status === undefined) return { effects, end, noResponse: r.error ?? 'no status recorded' };
    if (!effects.some((e) => e.kind === 'response')) {
      const payload: Record<string, unknown> = { status: r.status, headers: r.headers ?? {}, body: r.body ?? null };
      const effect: EffectRecord = { v: 1, type: 'effect', runId: x.runId, shadowId: x.shadowId, side: name, seq: EXCHANGE_RESPONSE_SEQ, kind: 'response', target: 'response', op: 'respond', payload, at: x.at };
      effects = [effect, ...effects];
    }
    if (!end && !own) {
      const request = { method: x.request.method, path: x.request.path, ...(x.request.route !== undefined ? { route: x.request.route } : {}) };
      end = { v: 1, type: 'end', runId: x.runId, shadowId: x.shadowId, side: name, count: 0, request, status: r.status, at: x.at };
    }
    return { effects, end };
  };
  return {
    ...input,
    legacy: side('legacy', input.legacy) ?? { effects: [] },
    candidate: side('candidate', input.candidate) ?? { effects: [] },
    secondary: side('secondary', input.secondary),
  };
}
