// The handoff over HTTP: a small listener that serves a MemoryHandoff (hosted by `shadowdiff
// proxy --handoff-listen` or `shadowdiff replay --handoff-listen`), and the client the SDKs use
// to reach it. Plain node:http on the server and an undici keep-alive pool on the client: a put
// sits on the live path, so it is one small request on a warm connection.
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { ShadowdiffError } from '../../core/errors';
import { listeningUrl, redactUrl } from '../../core/net';
import { type Handoff, type HandoffPut, type HandoffSnapshot, validPut } from './handoff';
import { MemoryHandoff } from './memory';

export const HANDOFF_PATH = '/v1/handoff';
const WARM_CONNECTIONS = 4;
const ID = /^[\w.:-]{1,200}$/;
const MAX_BODY = 16 * 1024 * 1024;

export interface HandoffServerOptions {
  store: MemoryHandoff;
  /** Required off loopback (the caller checks); a bearer token every request must carry. */
  token?: string | undefined;
}

export interface HandoffServerStats {
  puts: number;
  gets: number;
  refused: number;
}

/** A server for the handoff; listen on it yourself. `stats` counts what it served. */
export function handoffServer(o: HandoffServerOptions): { server: Server; stats: HandoffServerStats } {
  const expected = o.token === undefined ? undefined : Buffer.from(`Bearer ${o.token}`);
  const stats: HandoffServerStats = { puts: 0, gets: 0, refused: 0 };
  const answer = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (expected) {
      const got = Buffer.from(req.headers.authorization ?? '');
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
        stats.refused += 1;
        req.resume();
        return answer(res, 401, { error: 'missing or wrong token: send Authorization: Bearer <handoff token>' });
      }
    }
    const m = /^\/v1\/handoff\/([^/?]+)\/([^/?]+)$/.exec(req.url ?? '');
    const run = m && decodeURIComponent(m[1]!);
    const shadowId = m && decodeURIComponent(m[2]!);
    if (!run || !shadowId || !ID.test(run) || !ID.test(shadowId)) {
      req.resume();
      return answer(res, 404, { error: `not a handoff path: use ${HANDOFF_PATH}/<run>/<shadow id>` });
    }
    if (req.method === 'GET') {
      stats.gets += 1;
      req.resume();
      return answer(res, 200, o.store.getNow(run, shadowId));
    }
    if (req.method !== 'PUT') {
      req.resume();
      return answer(res, 405, { error: 'use GET or PUT' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        answer(res, 413, { error: `a handoff put is at most ${MAX_BODY} bytes` });
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return answer(res, 400, { error: 'the body is not JSON' });
      }
      if (!validPut(body)) return answer(res, 400, { error: 'the body is not a handoff put: {"images":[{"ns","id","before"}],"upserts":[{"token","ns","ids"?}]}' });
      stats.puts += 1;
      o.store.putNow(run, shadowId, body);
      answer(res, 200, { ok: true });
    });
  });
  // Small requests on long-lived connections: keep them open as long as the clients do.
  server.keepAliveTimeout = 10_000;
  return { server, stats };
}

export interface HttpHandoffOptions {
  /** The listener's base URL, e.g. http://127.0.0.1:7081 */
  url: string;
  token?: string | undefined;
  /** Connections to keep open to the listener. */
  connections?: number;
  /** A request not answered in this time fails (the SDK's own wait is shorter still). */
  timeoutMs?: number;
}

export class HttpHandoff implements Handoff {
  readonly kind = 'http' as const;
  private readonly pool: Pool;
  private readonly headers: Record<string, string>;

  constructor(o: HttpHandoffOptions) {
    let parsed: URL;
    try {
      parsed = new URL(o.url);
    } catch {
      throw new ShadowdiffError('SHADOWDIFF_CONFIG', `handoff "${o.url}" is not a URL: use http://proxy-host:7081 (the proxy's --handoff-listen) or redis://host:6379.`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ShadowdiffError('SHADOWDIFF_CONFIG', `handoff "${redactUrl(o.url)}" is not an http(s):// URL.`);
    const timeout = o.timeoutMs ?? 1_000;
    this.pool = new Pool(parsed.origin, { connections: o.connections ?? 16, pipelining: 1, connect: { timeout }, headersTimeout: timeout, bodyTimeout: timeout, keepAliveTimeout: 10_000 });
    this.headers = { 'content-type': 'application/json', ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) };
    // Open connections now: the first puts of shadowed requests must not pay for handshakes within their few milliseconds.
    for (let i = 0; i < WARM_CONNECTIONS; i++) {
      this.pool
        .request({ method: 'GET', path: `${HANDOFF_PATH}/warm-up/warm-up`, headers: this.headers })
        .then((r) => r.body.dump())
        .catch(() => undefined);
    }
  }

  private path(runId: string, shadowId: string): string {
    return `${HANDOFF_PATH}/${encodeURIComponent(runId)}/${encodeURIComponent(shadowId)}`;
  }

  async put(runId: string, shadowId: string, put: HandoffPut): Promise<void> {
    const r = await this.pool.request({ method: 'PUT', path: this.path(runId, shadowId), headers: this.headers, body: JSON.stringify(put) });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `handoff put answered ${r.statusCode}: ${text.slice(0, 200)}`, { status: r.statusCode });
  }

  async get(runId: string, shadowId: string): Promise<HandoffSnapshot> {
    const r = await this.pool.request({ method: 'GET', path: this.path(runId, shadowId), headers: this.headers });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `handoff get answered ${r.statusCode}: ${text.slice(0, 200)}`, { status: r.statusCode });
    return JSON.parse(text) as HandoffSnapshot;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/**
 * Serves a few hundred puts and gets to itself before it is announced: the first shadowed
 * writes of a deployment must not wait for the server's code to be compiled.
 */
async function warmUp(url: string, token: string | undefined): Promise<void> {
  const client = new HttpHandoff({ url, token, connections: 4 });
  try {
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < 50; i++) {
          await client.put('warm-up', `w${w}-${i}`, { images: [{ ns: 'warm.up', id: i, before: { _id: i } }] });
          await client.get('warm-up', `w${w}-${i}`);
        }
      }),
    );
  } catch {
    // A failed warm-up only costs the first requests their speed.
  } finally {
    await client.close();
  }
}

/** A hosted handoff listening on host:port: the store, the server and its URL. */
export async function listenHandoff(o: { host: string; port: number; token?: string | undefined; ttlMs?: number }): Promise<{ store: MemoryHandoff; url: string; stats: HandoffServerStats; close(): Promise<void> }> {
  const store = new MemoryHandoff({ ...(o.ttlMs !== undefined ? { ttlMs: o.ttlMs } : {}) });
  const { server, stats } = handoffServer({ store, token: o.token });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ShadowdiffError('SHADOWDIFF_USAGE', `the handoff cannot listen on ${o.host}:${o.port} (${err.code ?? err.message}): choose another address.`)));
    server.listen(o.port, o.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const url = listeningUrl(a);
  await warmUp(url, o.token);
  store.clear();
  stats.puts = stats.gets = 0;
  return {
    store,
    stats,
    url,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
}
