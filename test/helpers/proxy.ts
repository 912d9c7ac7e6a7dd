// Helpers for the proxy suites: real HTTP servers on ephemeral ports that record what reached
// them, a proxy started in-process, and a closed-loop load that measures latency.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import pino from 'pino';
import { Agent, request } from 'undici';
import { resolveProxyConfig, type RunningProxy, startProxy } from '../../capture/proxy';
import type { RecordSink } from '../../capture/sdk';

export const quiet = pino({ level: 'silent' });

export interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: Buffer;
}

export interface TestServer {
  readonly url: string;
  readonly seen: Seen[];
  readonly server: Server;
  close(): Promise<void>;
}

/** A real HTTP server; `handler` answers, after the request body was read in full. */
export async function httpServer(handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<TestServer> {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
      handler(req, res, body);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    server,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Answers every request with a small JSON echo of what it got. */
export function echo(name: string) {
  return (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const text = JSON.stringify({ name, method: req.method, url: req.url, length: body.length });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
}

/** A port on 127.0.0.1 nothing listens on (one that was just freed). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A URL nothing listens on (a port that was just freed). */
export async function deadUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

export async function proxyFor(settings: Record<string, unknown>, sink?: RecordSink): Promise<RunningProxy> {
  const config = resolveProxyConfig({ listen: '127.0.0.1:0', logLevel: 'silent', drainMs: 2000, ...settings });
  return startProxy(config, { logger: quiet, defaultMetrics: false, ...(sink ? { sink } : {}) });
}

export const client = new Agent({ connections: 64, pipelining: 1 });

export async function send(url: string, options: Parameters<typeof request>[1] = {}) {
  const res = await request(url, { dispatcher: client, ...options });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

export interface LoadResult {
  latencies: number[];
  statuses: Map<number, number>;
  bodies: Set<string>;
  p50: number;
  p99: number;
}

/** `total` requests, `concurrency` at a time, each sent when the last one answered. */
export async function load(url: string, total: number, concurrency: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const bodies = new Set<string>();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const started = performance.now();
      const r = await send(`${url}/orders/${i % 50}`, { method: i % 2 ? 'POST' : 'GET', ...(i % 2 ? { body: JSON.stringify({ n: i }), headers: { 'content-type': 'application/json' } } : {}) });
      latencies.push(performance.now() - started);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      bodies.add(r.body.toString().replace(/\d+/g, 'N'));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const sorted = [...latencies].sort((a, b) => a - b);
  return { latencies, statuses, bodies, p50: sorted[Math.floor(sorted.length * 0.5)]!, p99: sorted[Math.floor(sorted.length * 0.99)]! };
}

export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
