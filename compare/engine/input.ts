// What the engine is given for one request: each side's records, and the exchange the proxy or
// replay recorded in front of the services.
import type { EffectRecord, EndRecord, ExchangeRecord } from '../../core/effect';

export interface SideInput {
  readonly effects: readonly EffectRecord[];
  readonly end?: EndRecord | undefined;
  /** The recorder got no response from this side: why (refused, timed out, …). */
  readonly noResponse?: string | undefined;
}

export interface CompareInput {
  readonly runId: string;
  readonly shadowId: string;
  readonly legacy: SideInput;
  readonly candidate: SideInput;
  /** A second legacy instance in dry-run: what differs between it and legacy is noise. */
  readonly secondary?: SideInput | undefined;
  /** The request and responses as the proxy or replay saw them. */
  readonly exchange?: ExchangeRecord | undefined;
}
