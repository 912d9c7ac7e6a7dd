// HAR (HTTP Archive 1.2, what browsers' devtools and most HTTP tools save) as a recording: each
// entry becomes a request with legacy's response and no legacy effects, so a baseline replay
// compares responses only. Credentials (authorization, cookies) are left out; HAR files are
// single JSON documents and are read whole. A body the HAR says was there but does not hold
// (Playwright's `content: 'omit'`, a missing `_file`) is named in `missing`: replay leaves
// that request out and counts it, rather than sending `{}` or comparing with nothing.
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { unzipSync } from 'fflate';
import { type ExchangeRecord, FORMAT_VERSION } from '../core/effect';
import { ShadowdiffError } from '../core/errors';
import { readBytesFile, utf8Text } from '../core/files';
import { parseJson } from '../core/json';
import { bodyValue } from '../core/body';
import type { RecordedRequest } from './recording';

const CREDENTIALS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key']);
const SKIP = new Set(['host', 'content-length', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade']);

interface HarHeader {
  name: string;
  value: string;
}
interface HarEntry {
  startedDateTime?: string;
  request?: { method?: string; url?: string; headers?: HarHeader[]; bodySize?: number; postData?: { mimeType?: string; text?: string; _file?: string } };
  response?: { status?: number; headers?: HarHeader[]; content?: { mimeType?: string; text?: string; encoding?: string; size?: number; _file?: string } };
}

/** The HAR's JSON, and where the bodies it keeps beside it (`_file`) are found. */
interface HarSource {
  text: string;
  /** A `_file` body's bytes, or undefined when it is not there. */
  body(name: string): Promise<Buffer | undefined>;
}

const ZIP_MAGIC = Buffer.from('PK\x03\x04', 'latin1');

/** Whether the file is a zip archive (Playwright's `recordHar` with a `.zip` path). */
export function isZip(head: Buffer): boolean {
  return head.subarray(0, 4).equals(ZIP_MAGIC);
}

/**
 * A HAR file with its bodies inline, or beside it as `_file` references (Playwright's
 * `content: 'attach'`), or a zip of both (a `.zip` path). fflate reads the zip: a small,
 * dependency-free and widely used implementation.
 */
async function harSource(file: string): Promise<HarSource> {
  const bytes = await readBytesFile(file, 'HAR file');
  if (!isZip(bytes)) {
    const dir = dirname(file);
    return {
      text: utf8Text(bytes, `the HAR file ${file}`),
      body: async (name) => {
        // A body beside the HAR, never a path out of its folder.
        if (name !== basename(name)) return undefined;
        return readFile(join(dir, name)).catch(() => undefined);
      },
    };
  }
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${file} is a zip archive that cannot be read (${(err as Error).message}): a HAR zip as Playwright's recordHar writes it is expected.`, { file });
  }
  const harName = Object.keys(entries).find((n) => n.toLowerCase().endsWith('.har'));
  if (!harName) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${file} is a zip archive with no .har file in it (it holds ${Object.keys(entries).slice(0, 5).join(', ') || 'nothing'}): a recording is a JSONL file, a .har (or a zip of one) or a .gor.`, { file });
  return { text: utf8Text(entries[harName]!, `${harName} in ${file}`), body: async (name) => (Object.hasOwn(entries, name) ? Buffer.from(entries[name]!) : undefined) };
}

export async function* readHar(file: string, runId = 'har'): AsyncGenerator<RecordedRequest> {
  const source = await harSource(file);
  const har = parseJson(source.text, file) as { log?: { entries?: HarEntry[] } };
  const entries = har?.log?.entries;
  if (!Array.isArray(entries)) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${file}: not a HAR file (expected {"log": {"entries": [...]}}).`, { file });
  for (const [i, e] of entries.entries()) {
    const where = `${file}: log.entries[${i}]`;
    const req = e.request;
    if (!req?.method || !req.url) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${where}: request.method and request.url are required.`, { file });
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${where}: request.url "${req.url}" is not an absolute URL.`, { file });
    }
    const headers: Record<string, string> = {};
    for (const h of req.headers ?? []) {
      const name = String(h.name).toLowerCase();
      if (CREDENTIALS.has(name) || SKIP.has(name) || name.startsWith(':')) continue;
      headers[name] = headers[name] === undefined ? String(h.value) : `${headers[name]}, ${h.value}`;
    }
    if (req.postData?.mimeType && headers['content-type'] === undefined) headers['content-type'] = req.postData.mimeType;
    const request: ExchangeRecord['request'] = { method: req.method.toUpperCase(), path: `${url.pathname}${url.search}`, headers };
    const missing: { request?: string; response?: string } = {};
    const posted = req.postData?.text ? Buffer.from(req.postData.text) : req.postData?._file ? await source.body(req.postData._file) : undefined;
    if (posted?.length) request.body = bodyValue([posted], req.postData?.mimeType ?? headers['content-type'] ?? '');
    else if ((req.bodySize ?? 0) > 0) missing.request = req.postData?._file ? `request body file not found beside the HAR (${req.postData._file})` : 'request body not in the HAR (recorded without content)';
    const exchange: ExchangeRecord = { v: FORMAT_VERSION, type: 'exchange', runId, shadowId: `har-${i}`, at: validDate(e.startedDateTime), request, responses: {}, sdk: false };
    const res = e.response;
    if (res?.status !== undefined && res.status > 0) {
      const type = res.content?.mimeType ?? '';
      const rh: Record<string, string> = {};
      for (const h of res.headers ?? []) {
        const name = String(h.name).toLowerCase();
        if (name === 'content-type' || name === 'location') rh[name] = String(h.value);
      }
      const c = res.content;
      const raw = c?.text ? Buffer.from(c.text, c.encoding === 'base64' ? 'base64' : 'utf8') : c?._file ? await source.body(c._file) : undefined;
      if (!raw && (c?.size ?? 0) > 0) missing.response = c?._file ? `response body file not found beside the HAR (${c._file})` : 'response body not in the HAR (recorded without content)';
      exchange.responses.legacy = { status: res.status, headers: rh, body: bodyValue(raw ? [raw] : [], rh['content-type'] ?? type) };
    }
    yield { exchange, legacy: [], line: i + 1, ...(posted?.length ? { body: posted } : {}), ...(missing.request || missing.response ? { missing } : {}) };
  }
}

function validDate(s: string | undefined): string {
  const d = s ? new Date(s) : new Date(0);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}
