// The proxy as an operator meets it: settings from a file, env and flags with errors that name
// the key; a secondary mirror; request bodies streamed to legacy as they arrive; a graceful
// shutdown that lets requests in flight finish and records their exchanges.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveProxyConfig } from '../../../capture/proxy';
import { run } from '../../../cli/main';
import type { ExchangeRecord } from '../../../core/effect';
import { echo, eventually, httpServer, proxyFor, send, type TestServer } from '../../helpers/proxy';
import { memorySink } from '../../helpers/sdk';
import { fakeIo } from '../../helpers/cli';

let legacy: TestServer;
let candidate: TestServer;
let secondary: TestServer;

beforeAll(async () => {
  legacy = await httpServer((req, res, body) => (req.url === '/slow' ? setTimeout(() => echo('legacy')(req, res, body), 500) : echo('legacy')(req, res, body)));
  candidate = await httpServer(echo('candidate'));
  secondary = await httpServer(echo('secondary'));
});

afterAll(async () => {
  await legacy.close();
  await candidate.close();
  await secondary.close();
});

const cliIo = (env: Record<string, string> = {}) => fakeIo({ env, stop: Promise.resolve('SIGTERM') });

describe('settings', () => {
  it('file < env < flags, validated with errors that name the key and its variable', () => {
    const c = resolveProxyConfig(
      { legacy: 'http://a:1', candidate: 'http://b:2', mirror: { timeoutMs: 100 }, record: { redact: { paths: ['x'], secret: 'from-file-0123456789' } } },
      { record: { redact: { secret: 'from-env-0123456789' } } },
      { sampling: { percent: 5 } },
    );
    expect(c.mirror).toMatchObject({ timeoutMs: 100, maxInFlight: 256 });
    expect(c.record.redact).toMatchObject({ paths: ['x'], secret: 'from-env-0123456789' }); // merged, not replaced
    expect(c.sampling.percent).toBe(5);
    expect(() => resolveProxyConfig({ legacy: 'http://a:1', candidate: 'http://b:2', mirror: { timeoutMs: -1 } })).toThrow(/setting "mirror.timeoutMs"/);
    expect(() => resolveProxyConfig({ legacy: 'http://a:1/api', candidate: 'http://b:2' })).toThrow(/setting "legacy" \(env SHADOWDIFF_LEGACY\): must be the legacy service's origin/);
    expect(() => resolveProxyConfig({ legacy: 'http://a:1', candidate: 'http://b:2', mirorr: {} })).toThrow(/Unrecognized key: "mirorr"/);
    expect(() => resolveProxyConfig({ legacy: 'http://a:1', candidate: 'http://b:2', admin: { listen: '0.0.0.0:9090' } })).toThrow(/admin.token.*not loopback/);
  });

  it('`shadowdiff proxy` refuses bad settings with one clear line, before listening', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-proxy-'));
    const file = join(dir, 'proxy.json');
    writeFileSync(file, JSON.stringify({ legacy: legacy.url, candidate: candidate.url, sampling: { percent: 101 } }));
    const a = cliIo();
    expect(await run(['proxy', '--config', file], a.io)).toBe(2);
    expect(a.err).toHaveLength(1);
    expect(a.err[0]).toMatch(/^shadowdiff: setting "sampling.percent": must be 0-100\. .*docs\/proxy\.md.*\[SHADOWDIFF_CONFIG\]$/);
    const b = cliIo({ SHADOWDIFF_LEGACY: legacy.url });
    expect(await run(['proxy'], b.io)).toBe(2);
    expect(b.err.join('\n')).toMatch(/setting "candidate" \(env SHADOWDIFF_CANDIDATE\)/);
    writeFileSync(file, '{"legacy": ');
    const c = cliIo();
    expect(await run(['proxy', '--config', file], c.io)).toBe(2);
    expect(c.err.join('\n')).toMatch(/proxy\.json/);
    expect(c.err.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('`shadowdiff proxy` starts from flags and stops on a signal', async () => {
    const a = cliIo();
    const out: string[] = [];
    const started = await run(['proxy', '--listen', '127.0.0.1:0', '--legacy', legacy.url, '--candidate', candidate.url, '--sample', '0', '--log-level', 'silent'], { ...a.io, out: (t: string) => void out.push(t) });
    expect(started).toBe(0);
    expect(out[0]).toMatch(/^shadowdiff proxy on http:\/\/127\.0\.0\.1:\d+ → legacy 127\.0\.0\.1:\d+, mirroring 0%/);
  });
});

it('mirrors to a secondary legacy too; the exchange holds all three responses', async () => {
  const sink = memorySink();
  const proxy = await proxyFor({ legacy: legacy.url, candidate: candidate.url, secondary: secondary.url }, sink);
  try {
    await send(`${proxy.url}/orders/1`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    await eventually(() => secondary.seen.length === 1, 5000, 'the secondary mirror');
    expect(secondary.seen[0]!.headers).toMatchObject({ 'x-shadow-side': 'secondary', 'x-shadow-mode': 'dry-run' });
    expect(secondary.seen[0]!.body.toString()).toBe('{"a":1}');
  } finally {
    await proxy.close();
  }
  const [x] = sink.records as ExchangeRecord[];
  expect(Object.keys(x!.responses).sort()).toEqual(['candidate', 'legacy', 'secondary']);
  expect(x!.request.body).toEqual({ a: 1 });
  expect(x!.responses.secondary!.body).toMatchObject({ name: 'secondary' });
});

it('streams a request body to legacy as it arrives, before the client has sent all of it', async () => {
  const gotFirst: number[] = [];
  const upstream = await httpServer(echo('u'));
  upstream.server.prependListener('request', (req) => req.once('data', () => gotFirst.push(Date.now())));
  const proxy = await proxyFor({ legacy: upstream.url, candidate: candidate.url });
  try {
    const { port } = new URL(proxy.url);
    const sentAll = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/upload', headers: { 'transfer-encoding': 'chunked' } });
      req.on('error', reject);
      req.on('response', (res) => res.resume());
      req.write('a'.repeat(1000));
      setTimeout(() => {
        req.end('b'.repeat(1000));
        resolve(Date.now());
      }, 400);
    });
    await eventually(() => upstream.seen.length === 1, 5000, 'the upload');
    expect(gotFirst[0]).toBeLessThan(sentAll - 200); // legacy had the first part long before the last was sent
    expect(upstream.seen[0]!.body.length).toBe(2000);
    await eventually(() => candidate.seen.some((s) => s.url === '/upload' && s.body.length === 2000), 5000, 'the mirror with the whole body');
  } finally {
    await proxy.close();
    await upstream.close();
  }
});

it('graceful shutdown: a request in flight finishes, its exchange is recorded, new connections are refused', async () => {
  const sink = memorySink();
  const proxy = await proxyFor({ legacy: legacy.url, candidate: candidate.url, drainMs: 5000 }, sink);
  const inFlight = send(`${proxy.url}/slow`);
  await eventually(() => proxy.stats().active === 1, 2000, 'the request to be in flight');
  const closing = proxy.close();
  const r = await inFlight;
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body.toString())).toMatchObject({ name: 'legacy', url: '/slow' });
  await closing;
  await expect(send(`${proxy.url}/after`)).rejects.toThrow();
  const exchanges = sink.records.filter((x): x is ExchangeRecord => x.type === 'exchange');
  expect(exchanges.map((x) => x.request.path)).toEqual(['/slow']);
  expect(exchanges[0]!.responses.legacy!.status).toBe(200);
});
