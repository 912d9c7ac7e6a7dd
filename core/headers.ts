// The shadow headers: set by the proxy (or an external mirror such as Envoy) and read by the
// SDK, which is inert for a request without them.
export const HEADERS = {
  shadowId: 'x-shadow-id',
  run: 'x-shadow-run',
  side: 'x-shadow-side',
  mode: 'x-shadow-mode',
} as const;

export const MODES = ['live', 'dry-run'] as const;
export type Mode = (typeof MODES)[number];

/**
 * Set by the SDK on messages and calls it propagates: the first seq the receiving side's effects
 * use. A context started from it is a child: its effects join the same shadow id without an
 * end marker of their own (the request's end marker was already sent).
 */
export const SEQ_BASE_HEADER = 'x-shadow-seq-base';

/**
 * Set to `1` by a recorder in front of the services (the proxy, replay) that sends an `exchange`
 * record for the request: the SDK marks its end marker so the comparator waits for the exchange.
 */
export const EXCHANGE_HEADER = 'x-shadow-exchange';
