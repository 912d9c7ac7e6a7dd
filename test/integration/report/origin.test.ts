// CSRF and DNS rebinding (#20, item 3): a state-changing API call from another site's page is
// refused (a SameSite cookie is still sent across ports of one host), while scripts pass; a
// report or admin API without a token answers only requests naming loopback as their Host.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startProxy, resolveProxyConfig } from '../../../capture/proxy';
import { MemoryStore } from '../../../runtime/store/memory';
import { reportApp } from '../../../report/server';
import { echo, eventually, httpServer, quiet } from '../../helpers/proxy';

async function serve(token?: string, allowedHosts?: string[]) {
  const store = new MemoryStore();
  await store.putRun({ runId: 'r', createdAt: '2026-12-02T00:00:00Z' });
  const server: Server = reportApp({ store, logger: quiet, token, allowedHosts }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, port, close: () => new Promise((r) => server.close(r)) };
}

it('a re-evaluation or rule change from another site is refused; from a script or the report it runs', async () => {
  const token = 'a-report-token-of-some-length';
  const r = await serve(token);
  try {
    const post = (path: string, headers: Record<string, string>) => request(`${r.base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ rules: {}, reason: 'x', author: 'y' }) }).then(async (x) => [x.statusCode, await x.body.text()] as const);
    for (const path of ['/api/runs/r/reevaluate', '/api/runs/r/rules']) {
      expect((await post(path, { origin: 'http://127.0.0.1:1234' }))[0]).toBe(403); // another port of the same host: another origin
      expect((await post(path, { 'sec-fetch-site': 'cross-site' }))[0]).toBe(403);
      expect((await post(path, { 'sec-fetch-site': 'same-site' }))[0]).toBe(403);
      expect((await post(path, { origin: r.base, 'sec-fetch-site': 'same-origin' }))[0]).toBeLessThan(300);
      // One re-evaluation per run at a time: the next starts once this one ended.
      if (path.endsWith('/reevaluate')) await eventually(async () => JSON.parse((await request(`${r.base}${path}`, { headers: { authorization: `Bearer ${token}` } }).then((x) => x.body.text())) as string).state !== 'running', 5_000, 'the re-evaluation to end');
      expect((await post(path, {}))[0]).toBeLessThan(300); // curl, CI
    }
  } finally {
    await r.close();
  }
});

it('a report without a token answers loopback Host names only (and those it is told)', async () => {
  const r = await serve(undefined, ['report.internal']);
  try {
    const get = (host: string) => request(`${r.base}/api/runs`, { headers: { host } }).then(async (x) => [x.statusCode, await x.body.text()] as const);
    expect((await get(`127.0.0.1:${r.port}`))[0]).toBe(200);
    expect((await get(`localhost:${r.port}`))[0]).toBe(200);
    expect((await get(`report.internal:${r.port}`))[0]).toBe(200);
    const rebound = await get(`evil.example:${r.port}`);
    expect(rebound[0]).toBe(403);
    expect(rebound[1]).toMatch(/loopback address only/);
  } finally {
    await r.close();
  }
  const withToken = await serve('a-report-token-of-some-length');
  try {
    // With a token the token is the guard: a missing one is 401 whatever the Host.
    expect((await request(`${withToken.base}/api/runs`, { headers: { host: 'evil.example' } })).statusCode).toBe(401);
  } finally {
    await withToken.close();
  }
});

it('the proxy admin API without a token answers loopback Host names only', async () => {
  const legacy = await httpServer(echo('legacy'));
  const proxy = await startProxy(resolveProxyConfig({ listen: '127.0.0.1:0', legacy: legacy.url, candidate: legacy.url, admin: { listen: '127.0.0.1:0' }, sampling: { percent: 0 } }), { logger: quiet, defaultMetrics: false });
  try {
    const get = (host: string) => request(`${proxy.adminUrl}/v1/sampling`, { headers: { host } }).then(async (x) => (await x.body.text(), x.statusCode));
    expect(await get(new URL(proxy.adminUrl!).host)).toBe(200);
    expect(await get('evil.example')).toBe(403);
  } finally {
    await proxy.close();
    await legacy.close();
  }
});
