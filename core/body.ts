// An HTTP body as a JSON value for a record: parsed when JSON, text when textual, otherwise
// Extended JSON binary. Shared by the SDK's response effects and the proxy's exchanges, so the
// two compare alike.
import { parseJson } from './json';
import { toEffectValue } from './effect-value';

export function bodyValue(chunks: readonly Buffer[], contentType: string, truncatedOver?: number): unknown {
  if (truncatedOver !== undefined) return { $truncated: `body over ${truncatedOver} bytes` };
  const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (buf.length === 0) return null;
  if (/json/i.test(contentType)) {
    try {
      return toEffectValue(parseJson(buf.toString('utf8'), 'body'));
    } catch {
      return buf.toString('utf8');
    }
  }
  if (/^text\/|xml|x-www-form-urlencoded/i.test(contentType)) return buf.toString('utf8');
  return { $binary: { base64: buf.toString('base64'), subType: '00' } };
}
