// HAR (HTTP Archive 1.2, what browsers' devtools and most HTTP tools save) as a recording: each
// entry becomes a request with legacy's response and no legacy effects, so a baseline replay
// compares responses only. Credentials (authorization, cookies) are left out; HAR files are
// single JSON documents and are read whole.
import { type ExchangeRecord, FORMAT_VERSION } from '../core/effect';
import { ShadowdiffError } from '../core/errors';
import { readTextFile } from '../core/files';
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
  request?: { method?: string; url?: string; headers?: HarHeader[]; postData?: { mimeType?: string; text?: string } };
  response?: { status?: number; headers?: HarHeader[]; content?: { mimeType?: string; text?: string; encoding?: string } };
}

export async function* readHar(file: string, runId = 'har'): AsyncGenerator<RecordedRequest> {
  const har = parseJson(await readTextFile(file, 'HAR file'), file) as { log?: { entries?: HarEntry[] } };
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
    if (req.postData?.text !== undefined && req.postData.text !== '') request.body = bodyValue([Buffer.from(req.postData.text)], req.postData.mimeType ?? headers['content-type'] ?? '');
    const exchange: ExchangeRecord = { v: FORMAT_VERSION, type: 'exchange', runId, shadowId: `har-${i}`, at: validDate(e.startedDateTime), request, responses: {}, sdk: false };
    const res = e.response;
    if (res?.status !== undefined && res.status > 0) {
      const type = res.content?.mimeType ?? '';
      const rh: Record<string, string> = {};
      for (const h of res.headers ?? []) {
        const name = String(h.name).toLowerCase();
        if (name === 'content-type' || name === 'location') rh[name] = String(h.value);
      }
      const raw = res.content?.text;
      const bytes = raw === undefined ? [] : [Buffer.from(raw, res.content?.encoding === 'base64' ? 'base64' : 'utf8')];
      exchange.responses.legacy = { status: res.status, headers: rh, body: bodyValue(bytes, rh['content-type'] ?? type) };
    }
    yield { exchange, legacy: [], line: i + 1 };
  }
}

function validDate(s: string | undefined): string {
  const d = s ? new Date(s) : new Date(0);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}
