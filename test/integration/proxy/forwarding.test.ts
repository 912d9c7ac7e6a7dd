// The proxy is invisible: whatever legacy answers reaches the client byte for byte — binary,
// chunked, large, empty, HEAD, 204, 304 — streamed both ways, hop-by-hop headers aside; the
// mirror gets the same request bytes with the shadow headers; upstream failures map to 502/504.
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import type { RunningProxy } from '../../../capture/proxy';
import { deadUrl, echo, eventually, httpServer, proxyFor, send, type TestServer } from '../../helpers/proxy';

const binary = randomBytes(300_000);
const large = randomBytes(5 * 1024 * 1024);
let legacy: TestServer;
let candidate: TestServer;
let proxy: RunningProxy;

beforeAll(async () => {
  legacy = await httpServer((req, res, body) => {
    const path = req.url!.split('?')[0];
    switch (path) {
      case '/binary':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': binary.length, 'x-custom': 'a', 'set-cookie': ['s=1; Path=/', 't=2; Path=/'] });
        return void res.end(binary);
      case '/echo':
        res.writeHead(201, 'Made It', { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' });
        return void res.end(body);
      case '/chunked':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        setTimeout(() => res.end('second'), 400);
        return;
      case '/large':
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return void res.end(large);
      case '/empty':
        res.writeHead(200, { 'content-length': 0 });
        return void res.end();
      case '/no-content':
        res.writeHead(204, { 'x-after': 'delete' });
        return void res.end();
      case '/not-modified':
        res.writeHead(304, { etag: '"v1"' });
        return void res.end();
      case '/head':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1234 });
        return void res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(1234, 0x20));
      case '/hang':
        return; // never answers
      default:
        echo('legacy')(req, res, body);
    }
  });
  candidate = await httpServer(echo('candidate'));
  proxy = await proxyFor({ legacy: legacy.url, candidate: candidate.url, upstream: { headersTimeoutMs: 800 } });
});

afterAll(async () => {
  await proxy.close();
  await legacy.close();
  await candidate.close();
});

beforeEach(() => {
  legacy.seen.length = 0;
  candidate.seen.length = 0;
});

it('binary response: body and headers byte-identical, repeated headers kept', async () => {
  const r = await send(`${proxy.url}/binary`);
  expect(r.status).toBe(200);
  expect(Buffer.compare(r.body, binary)).toBe(0);
  expect(r.headers['x-custom']).toBe('a');
  expect(r.headers['set-cookie']).toEqual(['s=1; Path=/', 't=2; Path=/']);
  expect(r.headers['content-length']).toBe(String(binary.length));
});

it('request body: the same bytes reach legacy and the candidate, with the shadow headers', async () => {
  const r = await send(`${proxy.url}/echo?x=1`, { method: 'POST', body: binary, headers: { 'content-type': 'application/octet-stream' } });
  expect(r.status).toBe(201);
  expect(Buffer.compare(r.body, binary)).toBe(0);
  await eventually(() => candidate.seen.length === 1, 5000, 'the mirror');
  const [l] = legacy.seen;
  const [c] = candidate.seen;
  expect(Buffer.compare(l!.body, binary)).toBe(0);
  expect(Buffer.compare(c!.body, binary)).toBe(0);
  expect(c!.url).toBe('/echo?x=1');
  expect(l!.headers).toMatchObject({ 'x-shadow-side': 'legacy', 'x-shadow-mode': 'live', 'x-shadow-run': proxy.runId });
  expect(c!.headers).toMatchObject({ 'x-shadow-side': 'candidate', 'x-shadow-mode': 'dry-run', 'x-shadow-run': proxy.runId });
  expect(l!.headers['x-shadow-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(c!.headers['x-shadow-id']).toBe(l!.headers['x-shadow-id']);
});

it('a chunked request (no content-length) is forwarded and mirrored intact', async () => {
  const parts = [randomBytes(1000), randomBytes(70_000), randomBytes(5)];
  async function* body() {
    for (const p of parts) {
      yield p;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const r = await send(`${proxy.url}/echo`, { method: 'PUT', body: Readable.from(body()), headers: { 'content-type': 'application/octet-stream' } });
  expect(Buffer.compare(r.body, Buffer.concat(parts))).toBe(0);
  await eventually(() => candidate.seen.length === 1, 5000, 'the mirror');
  expect(Buffer.compare(candidate.seen[0]!.body, Buffer.concat(parts))).toBe(0);
});

it('streams: the first chunk of a slow response reaches the client before the rest exists', async () => {
  const res = await (await import('undici')).request(`${proxy.url}/chunked`);
  const started = performance.now();
  const chunks: { at: number; text: string }[] = [];
  for await (const c of res.body) chunks.push({ at: performance.now() - started, text: String(c) });
  expect(chunks.map((c) => c.text).join('')).toBe('first;second');
  expect(chunks[0]!.text).toBe('first;');
  expect(chunks[0]!.at).toBeLessThan(250); // the second part is written 400 ms after the first
  expect(res.headers['transfer-encoding']).toBe('chunked');
});

it('large (5 MB), empty, HEAD, 204 and 304 responses pass unchanged', async () => {
  const big = await send(`${proxy.url}/large`);
  expect(Buffer.compare(big.body, large)).toBe(0);
  const empty = await send(`${proxy.url}/empty`);
  expect([empty.status, empty.body.length, empty.headers['content-length']]).toEqual([200, 0, '0']);
  const head = await send(`${proxy.url}/head`, { method: 'HEAD' });
  expect([head.status, head.body.length, head.headers['content-length']]).toEqual([200, 0, '1234']);
  const none = await send(`${proxy.url}/no-content`, { method: 'DELETE' });
  expect([none.status, none.body.length, none.headers['x-after']]).toEqual([204, 0, 'delete']);
  const cached = await send(`${proxy.url}/not-modified`, { headers: { 'if-none-match': '"v1"' } });
  expect([cached.status, cached.body.length, cached.headers.etag]).toEqual([304, 0, '"v1"']);
});

it('hop-by-hop headers stay behind, x-forwarded-* are added, a client cannot set shadow headers', async () => {
  // node:http sends a Connection header as given (undici would refuse this one).
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest(`${proxy.url}/plain`, {
      headers: { connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'x-forwarded-for': '10.1.1.1', 'x-shadow-mode': 'live', 'x-shadow-id': 'forged', 'x-end-to-end': 'kept' },
    });
    req.on('response', (res) => res.resume().on('end', resolve));
    req.on('error', reject);
    req.end();
  });
  const h = legacy.seen.at(-1)!.headers;
  expect(h['x-hop']).toBeUndefined();
  expect(h['x-end-to-end']).toBe('kept');
  expect(h['x-forwarded-for']).toBe('10.1.1.1, 127.0.0.1');
  expect(h['x-forwarded-proto']).toBe('http');
  expect(h['x-forwarded-host']).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(h['x-shadow-id']).not.toBe('forged');
  expect(h.host).toBe(new URL(legacy.url).host);
});

it('maps upstream failures as a reverse proxy does: refused → 502, no response headers in time → 504', async () => {
  const down = await proxyFor({ legacy: await deadUrl(), candidate: candidate.url });
  try {
    const r = await send(`${down.url}/x`);
    expect(r.status).toBe(502);
    expect(r.body.toString()).toBe('Bad Gateway\n');
  } finally {
    await down.close();
  }
  const slow = await send(`${proxy.url}/hang`);
  expect(slow.status).toBe(504);
});

it('answers a malformed request with 400 and keeps serving', async () => {
  const { port } = new URL(proxy.url);
  const reply = await new Promise<string>((resolve) => {
    const s = connect(Number(port), '127.0.0.1', () => s.write('NOT A REQUEST\r\n\r\n'));
    let text = '';
    s.on('data', (d) => (text += d));
    s.on('close', () => resolve(text));
  });
  expect(reply).toMatch(/^HTTP\/1\.1 400/);
  expect((await send(`${proxy.url}/plain`)).status).toBe(200);
});

it('a transfer coding other than chunked becomes a content coding: the bytes arrive labelled, both ways', async () => {
  const text = 'shadowdiff '.repeat(500);
  const zipped = gzipSync(text);
  // An upstream that answers `Transfer-Encoding: gzip, chunked` (written by hand: node:http never does).
  const raw = createServer((socket) => {
    socket.once('data', () => {
      socket.end(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: gzip, chunked\r\n\r\n${zipped.length.toString(16)}\r\n${zipped.toString('latin1')}\r\n0\r\n\r\n`, 'latin1');
    });
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const p = await proxyFor({ legacy: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`, candidate: candidate.url, sampling: { percent: 0 } });
  try {
    const res = await send(`${p.url}/any`);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['transfer-encoding']).not.toMatch(/gzip/);
    expect(gunzipSync(res.body).toString()).toBe(text);
  } finally {
    await p.close();
    await new Promise((r) => raw.close(r));
  }
  // A client's request the same way: legacy gets it with Content-Encoding: gzip.
  const { port } = new URL(proxy.url);
  await new Promise<void>((resolve) => {
    const s = connect(Number(port), '127.0.0.1', () => s.write(Buffer.concat([Buffer.from(`POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ntransfer-encoding: gzip, chunked\r\nconnection: close\r\n\r\n${zipped.length.toString(16)}\r\n`), zipped, Buffer.from('\r\n0\r\n\r\n')])));
    s.on('data', () => {});
    s.on('close', () => resolve());
  });
  await eventually(() => legacy.seen.length === 1, 5000, 'legacy gets the request');
  expect(legacy.seen[0]!.headers['content-encoding']).toBe('gzip');
  expect(gunzipSync(legacy.seen[0]!.body).toString()).toBe(text);
});

it('slow clients are bounded: slow headers and slow bodies are cut, one address holds a capped number of connections, the primary keeps serving', async () => {
  const p = await proxyFor({ legacy: legacy.url, candidate: candidate.url, sampling: { percent: 0 }, client: { headersTimeoutMs: 600, requestTimeoutMs: 1_200, maxConnectionsPerIp: 4 } });
  const { port } = new URL(p.url);
  const open = (first: string) =>
    new Promise<{ closedAfterMs: Promise<number>; text: () => string }>((resolve) => {
      const t0 = Date.now();
      let text = '';
      const s = connect(Number(port), '127.0.0.1', () => {
        s.write(first);
        resolve({ closedAfterMs: new Promise((r) => s.on('close', () => r(Date.now() - t0))), text: () => text });
      });
      s.on('data', (d) => (text += d));
      s.on('error', () => {});
    });
  try {
    const slowHeaders = await open('GET /plain HTTP/1.1\r\nhost: x\r\nx-slow: ');
    const slowBody = await open('POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nab');
    const idle = [await open(''), await open('')];
    // Four connections from this address: a fifth is answered 503 and closed, and reaches nobody.
    const fifth = await open('GET /refused HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(await fifth.closedAfterMs).toBeLessThan(500);
    expect(fifth.text()).toMatch(/^HTTP\/1\.1 503/);
    expect(legacy.seen.map((x) => x.url)).not.toContain('/refused');
    // The slow ones are cut within their timeouts (node checks every second here).
    expect(await slowHeaders.closedAfterMs).toBeLessThan(3_000);
    expect(await slowBody.closedAfterMs).toBeLessThan(3_500);
    expect(slowBody.text()).toMatch(/^HTTP\/1\.1 408/);
    for (const c of idle) await c.closedAfterMs;
    // Their slots are free again, and the primary serves.
    expect((await send(`${p.url}/plain`)).status).toBe(200);
    expect(await p.metrics.registry.getSingleMetricAsString('shadowdiff_proxy_connections_refused_total')).toMatch(/ 1$/m);
  } finally {
    await p.close();
  }
});
