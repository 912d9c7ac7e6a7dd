// nginx (Debian's nginx-light) as the mirror, configured with docs/nginx/shadowdiff.conf as
// written, in front of two services with the SDK and response capture: every request reaches
// legacy and a copy the candidate, both SDKs record under one shadow id, an identical
// candidate compares as a match and a seeded bug as a mismatch on its field; a client's own
// shadow headers cannot turn legacy's writes off.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { request } from 'undici';
import { createShadow, type ShadowSdk } from '../../../capture/sdk';
import { compare } from '../../../compare/engine';
import { listen } from '../../helpers/plain-service';
import { freePort, quiet } from '../../helpers/proxy';
import { memorySink, sideOf } from '../../helpers/sdk';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const closers: (() => Promise<unknown>)[] = [];

/** An order service: a payment is a recorded side effect, the answer its receipt. `bug` charges one more. */
function shop(shadow: ShadowSdk, bug: boolean) {
  const a = express();
  a.use(express.json());
  a.use(shadow.middleware());
  a.post('/orders/:id/pay', async (req, res) => {
    const amount = Number(req.body.amount) + (bug ? 1 : 0);
    const receipt = await shadow.effect({ kind: 'message', target: 'payments', op: 'publish', payload: { order: req.params.id, amount } }, () => ({ charged: amount }), { charged: amount });
    res.json({ order: req.params.id, ...receipt });
  });
  return a;
}

async function nginx(legacy: string, candidate: string): Promise<string> {
  if (!NGINX) throw new Error('nginx is not installed: apt-get install nginx-light (.ci/run does this).');
  const dir = mkdtempSync(join(tmpdir(), 'sd-nginx-'));
  mkdirSync(join(dir, 'logs'));
  const port = await freePort();
  const site = readFileSync(join(__dirname, '../../../docs/nginx/shadowdiff.conf'), 'utf8')
    .replace('server legacy:8080;', `server ${new URL(legacy).host};`)
    .replace('server candidate:8080;', `server ${new URL(candidate).host};`)
    .replace('listen 8080;', `listen 127.0.0.1:${port};`);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, t)};`).join('\n  ');
  writeFileSync(join(dir, 'nginx.conf'), `daemon off;\nworker_processes 1;\npid ${join(dir, 'nginx.pid')};\nerror_log stderr warn;\nevents { worker_connections 256; }\nhttp {\n  access_log off;\n  ${temp}\n${site}\n}\n`);
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  closers.push(async () => {
    child.kill('SIGQUIT');
    await new Promise((r) => child.once('exit', r));
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    // A TCP connect, not a request: a request would be mirrored and recorded like any other.
    const up = await new Promise<boolean>((r) => {
      const sock = connect(port, '127.0.0.1', () => (sock.end(), r(true)));
      sock.once('error', () => r(false));
    });
    if (up) return url;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not start: ${stderr}`);
}

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
});

async function stack(bug: boolean) {
  const sinks = { legacy: memorySink(), candidate: memorySink() };
  const options = { logger: quiet, response: { capture: true } };
  const legacy = createShadow({ side: 'legacy', sink: sinks.legacy, ...options });
  const candidate = createShadow({ side: 'candidate', sink: sinks.candidate, ...options });
  const services = { legacy: await listen(shop(legacy, false)), candidate: await listen(shop(candidate, bug)) };
  closers.push(() => services.legacy.close(), () => services.candidate.close(), () => legacy.close(), () => candidate.close());
  return { sinks, legacy, candidate, url: await nginx(services.legacy.url, services.candidate.url) };
}

/** The comparison of every request both SDKs recorded, once both have flushed. */
async function comparisons(s: Awaited<ReturnType<typeof stack>>, expected: number) {
  for (let i = 0; i < 100 && new Set(s.sinks.candidate.records.filter((r) => r.type === 'end').map((r) => r.shadowId)).size < expected; i++) await new Promise((r) => setTimeout(r, 50));
  await s.legacy.flush(5000);
  await s.candidate.flush(5000);
  const ids = [...new Set(s.sinks.legacy.records.map((r) => r.shadowId))];
  return ids.map((shadowId) => compare({ runId: 'shadowdiff-nginx', shadowId, legacy: sideOf(s.sinks.legacy.records, shadowId), candidate: sideOf(s.sinks.candidate.records, shadowId) }, { now: '2026-12-02T00:00:00.000Z' }));
}

const pay = (url: string, id: string, headers: Record<string, string> = {}) =>
  request(`${url}/orders/${id}/pay`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ amount: 100 }) }).then(async (r) => ({ status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> }));

it('nginx mirrors with the documented configuration: an identical candidate matches, a seeded bug is found on its field', async () => {
  const same = await stack(false);
  for (let i = 0; i < 5; i++) expect(await pay(same.url, `A-${i}`)).toEqual({ status: 200, body: { order: `A-${i}`, charged: 100 } });
  const equal = await comparisons(same, 5);
  expect(equal.map((c) => [c.route, c.verdict])).toEqual(Array(5).fill(['POST /orders/:id/pay', 'match']));

  const buggy = await stack(true);
  // The client sees legacy's answer only, and its own shadow headers cannot make legacy a dry-run.
  expect(await pay(buggy.url, 'B-1', { 'x-shadow-id': 'forged', 'x-shadow-mode': 'dry-run', 'x-shadow-side': 'candidate' })).toEqual({ status: 200, body: { order: 'B-1', charged: 100 } });
  const [c] = await comparisons(buggy, 1);
  expect(c!.shadowId).toMatch(/^[0-9a-f]{32}$/); // nginx's $request_id, the same on both sides
  expect(c!.verdict).toBe('mismatch');
  expect(c!.findings.map((f) => [f.target, f.field, f.legacy, f.candidate]).sort()).toEqual([
    ['payments', 'amount', 100, 101],
    ['response', 'body.charged', 100, 101],
  ]);
}, 30_000);
