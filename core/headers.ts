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
