// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the message, so the
// proxy drops them both ways, with whatever a Connection header names.

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus what undici sets itself. */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);
/** Response headers that stay hop-by-hop; proxy-authenticate is for the client, as nginx passes it. */
export const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Removes headers a Connection header names (they are hop-by-hop for this connection only). */
export function dropConnectionTokens(headers: string[], connection: string): void {
  const tokens = connection
    .toLowerCase()
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t && t !== 'keep-alive' && t !== 'close');
  if (!tokens.length) return;
  for (let i = headers.length - 2; i >= 0; i -= 2) if (tokens.includes(headers[i]!.toLowerCase())) headers.splice(i, 2);
}
