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

/**
 * Codings a Transfer-Encoding applies before `chunked` (`gzip, chunked`). The proxy re-frames
 * the body and drops Transfer-Encoding, so without them the bytes would arrive still encoded and
 * unlabelled: they move to Content-Encoding, in the order applied (RFC 9110 §8.4), which
 * tells the receiver the same of the same bytes.
 */
export function moveTransferCodings(headers: string[], transferEncoding: string): void {
  const codings = transferEncoding
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t && t !== 'chunked' && t !== 'identity');
  if (!codings.length) return;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === 'content-encoding') {
      headers[i + 1] = `${headers[i + 1]}, ${codings.join(', ')}`;
      return;
    }
  }
  headers.push('content-encoding', codings.join(', '));
}
