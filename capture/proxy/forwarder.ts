// The forwarding hot path, on node:http and an undici pool: every request goes to legacy and
// legacy's response goes back as it came (primary.ts; hop-by-hop headers aside, hop-by-hop.ts),
// streamed both ways. A sampled request also gets a shadow id; legacy sees it in the shadow
// headers so its SDK records, and once the request body is complete a copy goes to each
// mirror target. Nothing a mirror, the recorder or the sink does can reach the client's
// response: mirrors run on their own pools with their own limits, and their results are only
// ever read into the exchange.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { EXCHANGE_HEADER, HEADERS } from '../../core/headers';
import { SIGNATURE_HEADER, signShadow } from '../../core/signing';
import { uuidv7 } from '../../core/ids';
import type { Logger } from '../../core/logger';
import { listeningUrl } from '../../core/net';
import type { ProxyConfig } from './config';
import { LiveShare } from './cutover';
import type { MirrorSkip, ProxyMetrics } from './metrics';
import { dropConnectionTokens, HOP_BY_HOP, moveTransferCodings } from './hop-by-hop';
import { type MirrorResult, MirrorTarget } from './mirror';
import { type Outcome, PrimaryHandler } from './primary';
import type { Gathered, Recorder } from './recorder';
import { Sampler } from './sampling';

export interface ProxyStats {
  /** Primary requests being served. */
  active: number;
  /** Exchanges waiting for their mirrors. */
  pendingExchanges: number;
}

export interface ForwarderOptions {
  config: ProxyConfig;
  runId: string;
  logger: Logger;
  metrics: ProxyMetrics;
  recorder?: Recorder | undefined;
}

export class Forwarder {
  readonly server: Server;
  readonly sampler: Sampler;
  /** The cutover's live shares: which requests the candidate serves live. */
  readonly live: LiveShare;
  private readonly legacy: Pool;
  /** Cutover: the candidate as a primary (made at the first request it serves), and legacy as a mirror in dry-run. */
  private candidatePrimary: Pool | undefined;
  private legacyMirror: MirrorTarget | undefined;
  private readonly targets: MirrorTarget[] = [];
  private readonly candidate: MirrorTarget;
  private readonly secondary: MirrorTarget | undefined;
  private readonly makeLegacyMirror: () => MirrorTarget;
  private readonly sockets = new Set<Socket>();
  private active = 0;
  private pending = 0;
  private stopping = false;
  private readonly c: ProxyConfig;

  constructor(private readonly o: ForwarderOptions) {
    this.c = o.config;
    this.legacy = this.primaryPool(this.c.legacy);
    this.sampler = new Sampler(this.c.sampling, o.runId);
    this.live = new LiveShare(this.c.cutover, o.logger, { signed: this.c.signing !== undefined }, (s) => o.metrics.liveShares(s.held ? 0 : s.percent, s.routes));
    const mirror = (name: 'candidate' | 'secondary' | 'legacy', url: string) =>
      new MirrorTarget(name, url, { ...this.c.mirror, keepBodyBytes: o.recorder ? this.c.record.maxBodyBytes : 0 }, o.metrics);
    this.makeLegacyMirror = () => (this.legacyMirror ??= mirror('legacy', this.c.legacy));
    this.candidate = mirror('candidate', this.c.candidate);
    this.targets.push(this.candidate);
    if (this.c.secondary) this.targets.push((this.secondary = mirror('secondary', this.c.secondary)));
    const client = this.c.client;
    // Slow clients (slowloris): headers and the whole request are bounded, checked every second
    // rather than node's 30 s, and one address holds at most maxConnectionsPerIp connections.
    this.server = createServer({ keepAliveTimeout: 5_000, requestTimeout: client.requestTimeoutMs, headersTimeout: client.headersTimeoutMs, connectionsCheckingInterval: 1_000 }, (req, res) => this.handle(req, res));
    this.server.on('connection', (s: Socket) => {
      const ip = s.remoteAddress ?? '';
      const open = this.perIp.get(ip) ?? 0;
      if (client.maxConnectionsPerIp > 0 && open >= client.maxConnectionsPerIp) {
        o.metrics.connectionsRefused.inc();
        this.logRefused(ip, open);
        // Paused: nothing it sends is parsed, so no request of it reaches legacy.
        s.pause();
        s.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\nretry-after: 1\r\n\r\n', () => s.destroy());
        return;
      }
      this.perIp.set(ip, open + 1);
      this.sockets.add(s);
      s.once('close', () => {
        this.sockets.delete(s);
        const n = (this.perIp.get(ip) ?? 1) - 1;
        if (n > 0) this.perIp.set(ip, n);
        else this.perIp.delete(ip);
      });
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // A malformed request line or headers: answer 400 as node would (431 for headers over
      // node's limit, 408 for a request not received within client.*TimeoutMs, as it does), never throw.
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      else socket.destroy();
    });
  }

  async listen(host: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return listeningUrl(this.server.address() as AddressInfo);
  }

  stats(): ProxyStats {
    return { active: this.active, pendingExchanges: this.pending };
  }

  /**
   * Stops taking connections, lets requests in flight finish (up to `drainMs`), then cuts what
   * is left and waits for mirrors to settle so their exchanges are recorded.
   */
  async close(drainMs: number): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + drainMs;
    while ((this.active > 0 || this.pending > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sockets) s.destroy();
    await closed;
    await Promise.all([
      this.legacy.destroy().catch(() => undefined),
      this.candidatePrimary?.destroy().catch(() => undefined),
      ...this.targets.map((t) => t.close()),
      this.legacyMirror?.close(),
    ]);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    this.active += 1;
    if (this.stopping) res.setHeader('connection', 'close');
    const raw = req.rawHeaders;
    const headers: string[] = [];
    let forwardedFor: string | undefined;
    let forwardedProto: string | undefined;
    let forwardedHost: string | undefined;
    let host: string | undefined;
    let connection: string | undefined;
    let contentLength: string | undefined;
    let chunked = false;
    let transferEncoding: string | undefined;
    let keyValue: string | undefined;
    let liveKeyValue: string | undefined;
    const keyHeader = this.sampler.keyHeader;
    const liveKeyHeader = this.live.keyHeader;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'connection') connection = value;
        else if (lower === 'transfer-encoding') {
          chunked = true;
          transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        }
        continue;
      }
      if (lower === keyHeader) keyValue = value;
      if (lower === liveKeyHeader) liveKeyValue = liveKeyValue === undefined ? value : `${liveKeyValue}; ${value}`;
      switch (lower) {
        case 'host':
          host = value;
          if (!this.c.preserveHost) continue;
          break;
        case 'content-length':
          contentLength = value;
          break;
        case 'x-forwarded-for':
          forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
          continue;
        case 'x-forwarded-proto':
          forwardedProto ??= value;
          continue;
        case 'x-forwarded-host':
          forwardedHost ??= value;
          continue;
        default:
          // Only the proxy decides what is mirrored and how: a client's shadow headers go nowhere.
          if (lower.startsWith('x-shadow-')) continue;
      }
      headers.push(name, value);
    }
    if (connection !== undefined) dropConnectionTokens(headers, connection);
    if (transferEncoding !== undefined) moveTransferCodings(headers, transferEncoding);
    const remote = req.socket.remoteAddress ?? '';
    headers.push('x-forwarded-for', forwardedFor === undefined ? remote : `${forwardedFor}, ${remote}`, 'x-forwarded-proto', forwardedProto ?? 'http');
    if (forwardedHost !== undefined || host !== undefined) headers.push('x-forwarded-host', (forwardedHost ?? host)!);
    const hasBody = chunked || (contentLength !== undefined && contentLength !== '0');
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';

    let gathered: Pending | undefined;
    try {
      gathered = this.reversed(method, path, liveKeyValue, contentLength, chunked, headers) ?? this.sample(method, path, headers, keyValue, contentLength, chunked);
    } catch (err) {
      // A fault of ours in deciding about the mirror degrades to plain forwarding, never to a failed request.
      this.internalError('sample', err);
    }
    let body: Dispatcher.DispatchOptions['body'] = null;
    if (hasBody) body = gathered ? (teeBody(req, gathered, this) as unknown as Dispatcher.DispatchOptions['body']) : req;

    const primary = gathered?.served ?? 'legacy';
    const upstreamHeaders = gathered ? [...headers, ...this.shadowHeaders(gathered.shadowId, primary, 'live')] : headers;
    const handler = new PrimaryHandler(res, this, started, gathered, this.o.recorder ? this.c.record.maxBodyBytes : 0, primary);
    try {
      (primary === 'candidate' ? this.candidateUpstream() : this.legacy).dispatch({ path, method, headers: upstreamHeaders, body }, handler);
    } catch (err) {
      handler.onResponseError(undefined, err as Error);
    }
    // Legacy first; a request without a body is mirrored right behind it.
    if (gathered && !hasBody) this.startMirrors(gathered, null);
  }

  private readonly perIp = new Map<string, number>();
  private lastRefusedLog = 0;
  private logRefused(ip: string, open: number): void {
    const now = Date.now();
    if (now - this.lastRefusedLog < 1000) return;
    this.lastRefusedLog = now;
    this.o.logger.warn({ ip, open, max: this.c.client.maxConnectionsPerIp }, 'connection refused: this address holds client.maxConnectionsPerIp connections already (503; behind a load balancer, raise it or set 0)');
  }

  private lastInternalLog = 0;
  /** @internal Logs (at most once a second) and counts a fault of the proxy's own mirroring code. */
  internalError(where: string, err: unknown): void {
    this.o.metrics.skip('internal-error');
    const now = Date.now();
    if (now - this.lastInternalLog < 1000) return;
    this.lastInternalLog = now;
    this.o.logger.error({ where, err: (err as Error)?.message }, 'proxy error on the mirror side; the request was forwarded without a mirror');
  }

  /**
   * Cutover: the exchange-to-be when the candidate serves this request live, legacy getting the
   * mirror in dry-run. Only a request that can be compared is the candidate's: where the legacy
   * mirror would be refused (busy, its circuit open, a body too big to mirror, shutting down),
   * legacy serves it as usual.
   */
  private reversed(method: string, path: string, liveKeyValue: string | undefined, contentLength: string | undefined, chunked: boolean, headers: string[]): Pending | undefined {
    const d = this.live.decide(method, path, liveKeyValue);
    if (d.noKey) this.o.metrics.liveNoKey.inc();
    if (d.served !== 'candidate' || this.stopping) return undefined;
    // Not with mirroring killed (it could not be compared), nor to a candidate whose circuit is open.
    if (!this.sampler.config.enabled || this.candidate.breaker.current !== 'closed') return undefined;
    if (contentLength !== undefined && Number(contentLength) > this.c.mirror.maxBodyBytes && !chunked) return undefined;
    const now = Date.now();
    const legacy = this.makeLegacyMirror();
    if (legacy.refuse(now)) return undefined;
    this.o.metrics.live(d.rule);
    const g = this.pendingFor(method, path, headers, [legacy], now);
    g.served = 'candidate';
    if (d.rule !== '*') g.route = d.rule;
    return g;
  }

  /** The candidate as a primary, on a pool of its own with legacy's upstream limits. */
  private candidateUpstream(): Pool {
    return (this.candidatePrimary ??= this.primaryPool(this.c.candidate));
  }

  /** A pool for a system serving the client: the upstream limits, unbounded connections, no pipelining. */
  private primaryPool(url: string): Pool {
    return new Pool(url, {
      connections: null,
      pipelining: 1,
      connect: { timeout: this.c.upstream.connectTimeoutMs },
      headersTimeout: this.c.upstream.headersTimeoutMs,
      bodyTimeout: this.c.upstream.bodyTimeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  private pendingFor(method: string, path: string, headers: string[], targets: MirrorTarget[], now: number): Pending {
    this.pending += 1;
    return {
      shadowId: uuidv7(now),
      at: new Date(now).toISOString(),
      method,
      path,
      rawHeaders: headers,
      body: [],
      bodyTruncated: false,
      responses: {},
      targets,
      waiting: 1 + targets.length,
      mirrored: false,
      bodySize: 0,
    };
  }

  /** The shadow headers for one side; a dry-run side's are signed when the proxy has a signing key. */
  private shadowHeaders(shadowId: string, side: 'legacy' | 'candidate' | 'secondary', mode: 'live' | 'dry-run'): string[] {
    const runId = this.o.runId;
    const h = [HEADERS.shadowId, shadowId, HEADERS.run, runId, HEADERS.side, side, HEADERS.mode, mode];
    if (this.o.recorder !== undefined) h.push(EXCHANGE_HEADER, '1');
    const key = this.c.signing?.key;
    if (key !== undefined && mode === 'dry-run') h.push(SIGNATURE_HEADER, signShadow(key, { shadowId, runId, side, mode }));
    return h;
  }

  /** Decides whether this request is mirrored; the exchange-to-be when it is. */
  private sample(method: string, path: string, headers: string[], keyValue: string | undefined, contentLength: string | undefined, chunked: boolean): Pending | undefined {
    const decision = this.stopping ? ({ mirror: false, reason: 'shutting-down' } as const) : this.sampler.decide(method, path, keyValue);
    if (!decision.mirror) return void this.o.metrics.skip(decision.reason);
    if (contentLength !== undefined && Number(contentLength) > this.c.mirror.maxBodyBytes && !chunked) return void this.o.metrics.skip('body-too-large');
    const now = Date.now();
    const refused = this.candidate.refuse(now);
    if (refused) return void this.o.metrics.skip(refused);
    const targets: MirrorTarget[] = [this.candidate];
    if (this.secondary) {
      const no = this.secondary.refuse(now);
      if (no) this.o.metrics.skip(no);
      else targets.push(this.secondary);
    }
    const g = this.pendingFor(method, path, headers, targets, now);
    if (decision.route !== undefined) g.route = decision.route;
    return g;
  }

  /** @internal The request body is complete (or there is none): mirrors go out. */
  startMirrors(g: Pending, body: Buffer | null): void {
    g.mirrored = true;
    for (const t of g.targets) {
      try {
        // Without a host header undici sends the target's own.
        const headers = [...g.rawHeaders, ...this.shadowHeaders(g.shadowId, t.name, 'dry-run')];
        t.send({ method: g.method, path: g.path, headers, body }, this.o.recorder !== undefined, (r) => this.settle(g, t.name, r));
      } catch (err) {
        this.internalError('mirror', err);
        this.settle(g, t.name, { error: 'proxy error', ms: 0 });
      }
    }
  }

  /** @internal The mirror will not go out (the body was too big, the request ended first). */
  cancelMirrors(g: Pending, reason: MirrorSkip): void {
    if (g.mirrored || g.waiting <= 0) return;
    g.mirrored = true;
    for (const t of g.targets) t.releaseProbe();
    this.o.metrics.skip(reason);
    g.waiting = 0;
    this.pending -= 1;
  }

  /** @internal One side of an exchange is in. */
  settle(g: Pending, side: 'legacy' | 'candidate' | 'secondary', result: MirrorResult): void {
    // The candidate serving live: its failures open its circuit as its mirrors' do, and then legacy serves.
    if (side === 'candidate' && g.served === 'candidate') {
      if (result.error !== undefined) this.candidate.breaker.failure(Date.now());
      else this.candidate.breaker.success(Date.now());
    }
    if (g.waiting <= 0) return;
    g.responses[side] = result;
    g.waiting -= 1;
    if (g.waiting > 0) return;
    this.pending -= 1;
    try {
      this.o.recorder?.record(g);
    } catch (err) {
      this.internalError('record', err);
    }
  }

  /** @internal */
  done(outcome: Outcome, started: number, mirrored: boolean): void {
    this.active -= 1;
    this.o.metrics.request(outcome, (performance.now() - started) / 1000, mirrored);
  }

  /** @internal Largest request body that is still mirrored. */
  get mirrorBodyCap(): number {
    return this.c.mirror.maxBodyBytes;
  }
}

/** An exchange being gathered. */
export interface Pending extends Gathered {
  targets: MirrorTarget[];
  /** Sides still to answer (legacy + mirrors). */
  waiting: number;
  mirrored: boolean;
  bodySize: number;
}

/**
 * The request body for legacy, read once: each chunk goes on to legacy as it arrives and is
 * kept for the mirrors up to the cap; when the body is complete the mirrors go out with the
 * same bytes. Over the cap, the request is forwarded and not mirrored.
 */
async function* teeBody(req: IncomingMessage, g: Pending, f: Forwarder): AsyncGenerator<Buffer> {
  const cap = f.mirrorBodyCap;
  let completed = false;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      if (!g.mirrored) {
        g.bodySize += chunk.length;
        if (g.bodySize > cap) {
          g.body = [];
          f.cancelMirrors(g, 'body-too-large');
        } else g.body.push(chunk);
      }
      yield chunk;
    }
    completed = true;
  } finally {
    if (!g.mirrored) {
      if (completed) f.startMirrors(g, g.body.length === 1 ? g.body[0]! : Buffer.concat(g.body));
      else f.cancelMirrors(g, 'request-incomplete');
    }
  }
}
