// GoReplay 1.3 itself (built from the Go module proxy and cached, as .ci/run does) captures live
// traffic to a service with --input-raw-track-response; the .gor it writes is read with every
// request paired with its response, whichever GoReplay wrote first, and a baseline replay
// against the very service captured passes with full coverage.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Pool } from 'undici';
import { run } from '../../../cli/main';
import { readGor } from '../../../replay/gor';
import type { RecordedRequest } from '../../../replay/recording';
import { fakeIo } from '../../helpers/cli';
import { freePort } from '../../helpers/proxy';

const GOREPLAY = process.env.GOREPLAY ?? join(process.env.SHADOWDIFF_CACHE_DIR ?? join(homedir(), '.cache', 'shadowdiff'), 'bin', 'goreplay-v1.3.2');
const REQUESTS = 40;
let server: Server;
let url: string;
let file: string;

beforeAll(async () => {
  if (!existsSync(GOREPLAY)) {
    throw new Error(`GoReplay is not built at ${GOREPLAY}: apt-get install libpcap-dev, then GOBIN=$(mktemp -d) go install github.com/buger/goreplay@v1.3.2 and copy it there (.ci/run does this), or set GOREPLAY.`);
  }
  const app = express();
  app.use(express.json());
  app.get('/orders/:id', (req, res) => void res.json({ id: req.params.id, total: 1200 }));
  app.post('/orders', (req, res) => void res.status(201).json({ id: `A-${req.body.n}`, items: req.body.items }));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;
  file = join(mkdtempSync(join(tmpdir(), 'sd-gor-')), 'capture.gor');
  const gor: ChildProcess = spawn(GOREPLAY, ['--input-raw', `127.0.0.1:${port}`, '--input-raw-track-response', '--output-file', file, '--output-file-append', '--output-file-flush-interval', '100ms'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  gor.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  gor.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  try {
    // GoReplay says nothing when it is listening: give the capture a moment to open.
    await new Promise((r) => setTimeout(r, 1500));
    if (gor.exitCode !== null) throw new Error(`GoReplay exited (${gor.exitCode}): ${output}`);
    const pool = new Pool(url, { connections: 4 });
    await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        const r = i % 2 ? await pool.request({ path: `/orders/o-${i}`, method: 'GET' }) : await pool.request({ path: '/orders', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: i, items: [{ sku: 'x', qty: i }] }) });
        await r.body.dump();
      }),
    );
    await pool.close();
    // GoReplay writes a message once it judges it complete, which can take up to its
    // --input-raw-expire (2 s) on a loaded machine, and a SIGINT does not flush what it still
    // assembles: wait until every request and response is in the file.
    const deadline = Date.now() + 30_000;
    while (payloadsIn(file) < 2 * REQUESTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  } finally {
    gor.kill('SIGINT');
    await new Promise((r) => (gor.exitCode !== null ? r(undefined) : gor.once('exit', r)));
  }
  if (!existsSync(file) || statSync(file).size === 0) throw new Error(`GoReplay wrote no capture to ${file}: ${output}`);
}, 60_000);

function payloadsIn(path: string): number {
  if (!existsSync(path)) return 0;
  return readFileSync(path, 'utf8').split('\n🐵🙈🙉\n').filter((p) => p.trim()).length;
}

afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

it('reads what GoReplay captured: every request with its original response', async () => {
  const got: RecordedRequest[] = [];
  for await (const r of readGor(file, 'g')) got.push(r);
  expect(got).toHaveLength(REQUESTS);
  expect(got.filter((r) => r.exchange.responses.legacy === undefined).map((r) => r.exchange.request.path)).toEqual([]);
  const post = got.find((r) => r.exchange.request.method === 'POST')!;
  expect(post.exchange.responses.legacy!.status).toBe(201);
  expect(post.exchange.responses.legacy!.body).toEqual({ id: `A-${(post.exchange.request.body as { n: number }).n}`, items: (post.exchange.request.body as { items: unknown }).items });
});

it('a baseline replay of the capture against the service it was captured from passes, fully covered', async () => {
  const c = fakeIo();
  expect(await run(['replay', file, '--candidate', url, '--collector', `127.0.0.1:${await freePort()}`, '--compare-timeout-ms', '500'], c.io)).toBe(0);
  expect(c.out.join('\n')).toMatch(new RegExp(`^PASS replay .*: ${REQUESTS} replayed, ${REQUESTS} compared, 0 regression\\(s\\), coverage 100\\.0%`));
});
