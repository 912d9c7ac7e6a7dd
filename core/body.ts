// An HTTP body as a JSON value for a record, in a shape redaction paths can reach (design
// decision 11; docs/security.md, "Body shapes"):
// - JSON (under any content type, when the body is an object or an array) → the value;
// - application/x-www-form-urlencoded → its fields by name (`{"card[number]": "…"}`; a repeated
//   name's values as an array), which the path `card.number` reaches (core/redaction.ts);
// - multipart/form-data → the same, and of each file its name, type, size and hash;
// - anything else → `{"$unparsed": {bytes, hash}}`: not kept, unless the caller asks for the raw
//   body (a per-route setting), which is then text or Extended JSON binary.
// Shared by the SDK's response effects, the proxy's exchanges and replay, so they compare alike.
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import busboy from 'busboy';
import { toEffectValue } from './effect-value';

export interface BodyOptions {
  /** The body was over this many bytes: only that is recorded, with the hash of the chunks given (its first bytes). */
  truncatedOver?: number | undefined;
  /** Keep a body that is neither JSON nor a form as it is (text or base64), not as its size and hash. */
  raw?: boolean;
  /**
   * How a body that is not kept is hashed: the redactor's keyed hash where a secret is set, so a
   * short secret cannot be guessed back from its hash. Default SHA-256.
   */
  digest?: (bytes: Uint8Array) => string;
}

/** Form fields past this many are not parsed: the body is recorded as not kept. */
const MAX_FIELDS = 10_000;

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function bodyValue(chunks: readonly Buffer[], contentType: string, options: BodyOptions = {}): unknown {
  const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  // Over the cap: the hash of the first truncatedOver bytes where the caller kept them, so two
  // big bodies that differ early do not compare equal.
  if (options.truncatedOver !== undefined) return buf.length ? { $truncated: `body over ${options.truncatedOver} bytes`, hash: (options.digest ?? sha256)(buf) } : { $truncated: `body over ${options.truncatedOver} bytes` };
  if (buf.length === 0) return null;
  const type = contentType.toLowerCase();
  const parsed = type.includes('multipart/form-data') ? multipart(buf, contentType, options) : type.includes('x-www-form-urlencoded') ? form(buf) : json(buf, /json/.test(type));
  if (parsed !== undefined) return parsed;
  if (options.raw) return /^text\/|xml|x-www-form-urlencoded/.test(type) && isUtf8(buf) ? buf.toString('utf8') : { $binary: { base64: buf.toString('base64'), subType: '00' } };
  return unparsed(buf, options);
}

/**
 * The first `max` bytes of a body read in chunks, and whether there was more: past the cap only
 * those stay, for the hash a truncated body records (bodyValue's truncatedOver).
 */
export class BodyPrefix {
  readonly chunks: Buffer[] = [];
  size = 0;
  truncated = false;

  constructor(private readonly max: number) {}

  add(chunk: Buffer): void {
    const room = this.max - this.size;
    this.size += chunk.length;
    if (this.truncated) return;
    if (this.size <= this.max) this.chunks.push(chunk);
    else {
      this.truncated = true;
      if (room > 0) this.chunks.push(chunk.subarray(0, room));
    }
  }
}

/** What is recorded of a body that is not kept. */
export function unparsed(bytes: Uint8Array, options: Pick<BodyOptions, 'digest'> = {}): { $unparsed: { bytes: number; hash: string } } {
  return { $unparsed: { bytes: bytes.length, hash: (options.digest ?? sha256)(bytes) } };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Under a JSON content type any JSON counts; under another only an object or an array, so a
// bare number sent as text/plain (a card number) is not kept where no path could redact it.
function json(buf: Buffer, declared: boolean): unknown {
  let i = 0;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
  if (!declared && buf[i] !== 0x7b && buf[i] !== 0x5b) return undefined;
  let text: string;
  try {
    text = utf8.decode(buf);
  } catch {
    return undefined;
  }
  try {
    // Native JSON.parse makes a `__proto__` key an own property (no pollution); toEffectValue
    // escapes it, so the application's data survives into the record (docs/effect-format.md).
    return toEffectValue(JSON.parse(text));
  } catch {
    return undefined;
  }
}

// Flat, by name as sent: the record can be sent again as the same form (replay), and a field
// named `toString` or `__proto__` is data like any other (a null-prototype object).
function form(buf: Buffer): unknown {
  if (!isUtf8(buf)) return undefined;
  const fields: Record<string, unknown> = Object.create(null);
  let n = 0;
  for (const [name, value] of new URLSearchParams(buf.toString('utf8'))) {
    if (++n > MAX_FIELDS) return undefined;
    add(fields, name, value);
  }
  return toEffectValue(fields);
}

/** Fields by name as a form's are, files as their name, type, size and hash. */
function multipart(buf: Buffer, contentType: string, options: BodyOptions): unknown {
  const fields: Record<string, unknown> = Object.create(null);
  const files: { name: string; stream: { read(): Buffer | null }; info: busboy.FileInfo }[] = [];
  let failed = false;
  try {
    const parser = busboy({ headers: { 'content-type': contentType }, limits: { fields: MAX_FIELDS, files: MAX_FIELDS, fieldSize: buf.length + 1 } });
    parser.on('field', (name, value) => add(fields, name, value));
    parser.on('file', (name, stream, info) => files.push({ name, stream: stream as never, info }));
    parser.on('error', () => (failed = true));
    parser.on('fieldsLimit', () => (failed = true));
    parser.on('filesLimit', () => (failed = true));
    // The whole body is at hand: busboy parses it within this call, and each file's bytes wait
    // in its stream's buffer, read here without waiting for an event.
    parser.end(buf);
  } catch {
    return undefined;
  }
  // busboy reports a body cut short only later, by an event: a form without its closing
  // boundary is not parsed, or the bytes after the last complete part would be lost.
  if (failed || !closed(buf, contentType)) return undefined;
  for (const f of files) {
    const parts: Buffer[] = [];
    for (let c = f.stream.read(); c !== null; c = f.stream.read()) parts.push(c);
    const bytes = Buffer.concat(parts);
    const file: Record<string, unknown> = { bytes: bytes.length, hash: (options.digest ?? sha256)(bytes) };
    if (f.info.filename !== undefined) file.filename = f.info.filename;
    if (f.info.mimeType) file.type = f.info.mimeType;
    add(fields, f.name, { $file: file });
  }
  return toEffectValue(fields);
}

function closed(buf: Buffer, contentType: string): boolean {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!m) return false;
  const end = buf.lastIndexOf(`--${m[1] ?? m[2]}--`);
  return end !== -1 && /^\s*$/.test(buf.subarray(end + (m[1] ?? m[2])!.length + 4).toString('latin1'));
}

function add(fields: Record<string, unknown>, name: string, value: unknown): void {
  const prior = fields[name];
  if (prior === undefined) fields[name] = value;
  else if (Array.isArray(prior)) prior.push(value);
  else fields[name] = [prior, value];
}
