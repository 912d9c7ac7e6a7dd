// GoReplay's `.gor` files as a recording, streamed: payloads separated by a line of
// "🐵🙈🙉", each starting with `<type> <id> <timestamp ns> <latency>` — type 1 a request, 2 the
// original response (present when GoReplay ran with --input-raw-track-response), 3 a replayed
// response (ignored). A request paired with its original response compares responses in a
// baseline replay; without one, only a paired replay (--legacy) has something to compare.
// GoReplay may write a response before its request (both are captured, and written as each
// completes), so the two are paired by id in either order, within a window of payloads.
import { createReadStream } from 'node:fs';
import { type ExchangeRecord, FORMAT_VERSION } from '../core/effect';
import { ShadowdiffError } from '../core/errors';
import { bodyValue } from '../core/body';
import type { RecordedRequest } from './recording';

const SEPARATOR = Buffer.from('\n🐵🙈🙉\n');
const CREDENTIALS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key']);
const SKIP = new Set(['host', 'content-length', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade']);
/** Payloads a request waits for its response, or a response for its request, before it goes without one. */
const WINDOW = 1000;

type Response = NonNullable<ExchangeRecord['responses']['legacy']>;

/** Payloads of a .gor stream, split on the separator without holding more than one in memory. */
async function* payloads(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of input) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let at: number;
    while ((at = pending.indexOf(SEPARATOR)) !== -1) {
      yield pending.subarray(0, at);
      pending = pending.subarray(at + SEPARATOR.length);
    }
  }
  const last = pending.toString('utf8').endsWith('🐵🙈🙉') ? pending.subarray(0, pending.length - Buffer.byteLength('🐵🙈🙉')) : pending;
  if (last.toString('utf8').trim()) yield last;
}

interface Parsed {
  start: string[];
  headers: [string, string][];
  body: Buffer;
}

function parseHttp(raw: Buffer, where: string): Parsed {
  const end = raw.indexOf('\r\n\r\n');
  const headEnd = end === -1 ? raw.indexOf('\n\n') : end;
  if (headEnd === -1) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${where}: not an HTTP message (no blank line after the headers).`);
  const head = raw.subarray(0, headEnd).toString('latin1').split(/\r?\n/);
  let body = raw.subarray(headEnd + (end === -1 ? 2 : 4));
  const headers: [string, string][] = [];
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
  }
  if (headers.some(([n, v]) => n === 'transfer-encoding' && /chunked/i.test(v))) body = unchunk(body);
  return { start: head[0]!.split(' '), headers, body };
}

function unchunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const eol = body.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

export async function* readGor(file: string, runId = 'gor'): AsyncGenerator<RecordedRequest> {
  const stream = createReadStream(file);
  const waiting = new Map<string, { exchange: ExchangeRecord; seen: number; line: number; body?: Buffer }>();
  /** Responses that came before their request. */
  const early = new Map<string, { response: Response; seen: number }>();
  let n = 0;
  try {
    for await (const payload of payloads(stream as AsyncIterable<Buffer>)) {
      n += 1;
      const where = `${file}: payload ${n}`;
      const nl = payload.indexOf('\n');
      const meta = payload.subarray(0, nl === -1 ? payload.length : nl).toString('latin1').trim().split(' ');
      const [type, id, ts] = meta;
      if (!type || !id || !/^[123]$/.test(type)) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${where}: expected a GoReplay payload header "<1|2|3> <id> <timestamp> …", got "${meta.join(' ').slice(0, 80)}".`);
      if (type === '3') continue;
      const http = parseHttp(payload.subarray(nl + 1), where);
      if (type === '1') {
        const [method, target] = http.start;
        if (!method || !target) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${where}: the request line "${http.start.join(' ')}" is not "METHOD /path HTTP/1.1".`);
        const headers: Record<string, string> = {};
        for (const [name, value] of http.headers) if (!CREDENTIALS.has(name) && !SKIP.has(name)) headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
        const request: ExchangeRecord['request'] = { method: method.toUpperCase(), path: target.slice(0, 4000), headers };
        if (http.body.length) request.body = bodyValue([http.body], headers['content-type'] ?? '');
        const at = Number(ts) / 1e6;
        const exchange: ExchangeRecord = { v: FORMAT_VERSION, type: 'exchange', runId, shadowId: `gor-${id}`.slice(0, 200), at: new Date(Number.isFinite(at) ? at : 0).toISOString(), request, responses: {}, sdk: false };
        const sent = http.body.length ? { body: http.body } : {};
        const before = early.get(id);
        if (before) {
          early.delete(id);
          exchange.responses.legacy = before.response;
          yield { exchange, legacy: [], line: n, ...sent };
        } else waiting.set(id, { exchange, seen: n, line: n, ...sent });
      } else {
        const status = Number(http.start[1]);
        const rh: Record<string, string> = {};
        for (const [name, value] of http.headers) if (name === 'content-type' || name === 'location') rh[name] = value;
        const response: Response = { status: Number.isInteger(status) ? status : 0, headers: rh, body: bodyValue([http.body], rh['content-type'] ?? '') };
        const w = waiting.get(id);
        if (w) {
          waiting.delete(id);
          w.exchange.responses.legacy = response;
          yield { exchange: w.exchange, legacy: [], line: w.line, ...(w.body ? { body: w.body } : {}) };
        } else early.set(id, { response, seen: n });
      }
      // Requests whose response did not come within the window go on without one; responses
      // whose request did not come belong to a request outside the file.
      for (const [key, w] of waiting) {
        if (n - w.seen < WINDOW) break;
        waiting.delete(key);
        yield { exchange: w.exchange, legacy: [], line: w.line, ...(w.body ? { body: w.body } : {}) };
      }
      for (const [key, e] of early) {
        if (n - e.seen < WINDOW) break;
        early.delete(key);
      }
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read the recording ${file}: ${code}.`, { file });
    throw err;
  }
  for (const w of waiting.values()) yield { exchange: w.exchange, legacy: [], line: w.line, ...(w.body ? { body: w.body } : {}) };
}
