// HAR files as Playwright writes them (Chromium driven by playwright-core): bodies kept beside
// the HAR (`content: 'attach'`), the HAR and its bodies in one zip (a `.zip` path), and bodies
// left out (`content: 'omit'`). Bodies beside it are read; bodies really absent leave their
// request out, counted with the reason, instead of replaying `{}` and comparing with null.
import express from 'express';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { chromium } from 'playwright-core';
import { run } from '../../../cli/main';
import { readHar } from '../../../replay/har';
import { openRecording } from '../../../replay/open';
import type { RecordedRequest } from '../../../replay/recording';
import { fakeIo } from '../../helpers/cli';
import { freePort } from '../../helpers/proxy';

const CHROMIUM = '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'sd-har-'));
let server: Server;
let url: string;
const files = { attach: join(dir, 'attach.har'), zip: join(dir, 'shop.zip'), omit: join(dir, 'omit.har') };

async function all(it: AsyncIterable<RecordedRequest>): Promise<RecordedRequest[]> {
  const out: RecordedRequest[] = [];
  for await (const r of it) out.push(r);
  return out;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install chromium (.ci/run does this).`);
  const app = express();
  app.get('/', (_req, res) => void res.type('html').send('<!doctype html><title>shop</title><p>shop</p>'));
  app.post('/orders', express.json(), (req, res) => void res.status(201).json({ id: `A-${req.body.sku}`, qty: req.body.qty }));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    for (const [file, content] of [[files.attach, 'attach'], [files.zip, 'attach'], [files.omit, 'omit']] as const) {
      const context = await browser.newContext({ recordHar: { path: file, content } });
      const page = await context.newPage();
      await page.goto(url);
      await page.evaluate(async (base) => {
        const res = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku: 'x', qty: 2 }) });
        await res.json();
      }, url);
      await context.close();
    }
  } finally {
    await browser.close();
  }
}, 60_000);

afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

const post = (rs: RecordedRequest[]) => rs.find((r) => r.exchange.request.method === 'POST')!;

it("reads bodies kept beside the HAR (content: 'attach') and inside a HAR zip", async () => {
  for (const file of [files.attach, files.zip]) {
    const p = post(await all(readHar(file)));
    expect([file, p.exchange.request.body, p.exchange.responses.legacy?.status, p.exchange.responses.legacy?.body, p.missing]).toEqual([file, { sku: 'x', qty: 2 }, 201, { id: 'A-x', qty: 2 }, undefined]);
  }
});

it("names bodies the HAR does not hold (content: 'omit'), and replay leaves those requests out, counted", async () => {
  const p = post(await all(readHar(files.omit)));
  expect(p.missing).toEqual({ request: 'request body not in the HAR (recorded without content)', response: 'response body not in the HAR (recorded without content)' });
  const c = fakeIo();
  await run(['replay', files.omit, '--candidate', url, '--collector', `127.0.0.1:${await freePort()}`, '--compare-timeout-ms', '500', '--min-coverage', '0'], c.io);
  // The POST lacks its body; the page's GET lacks its response, which a baseline replay compares with.
  expect(c.out.join('\n')).toMatch(/^skipped: (?=.*1 \(request body not in the HAR \(recorded without content\)\))(?=.*1 \(response body not in the HAR \(recorded without content\)\))/m);
});

it('a baseline replay of the HAR zip against the service it was recorded from passes, the POST with its real body', async () => {
  const c = fakeIo();
  expect(await run(['replay', files.zip, '--candidate', url, '--collector', `127.0.0.1:${await freePort()}`, '--compare-timeout-ms', '500'], c.io)).toBe(0);
  expect(c.out.join('\n')).toMatch(/^PASS replay .*: 2 replayed, 2 compared, 0 regression\(s\), coverage 100\.0%/);
});

it('a zip under another name is read as the HAR it holds; a zip without one says what it is', async () => {
  const renamed = join(dir, 'shop.json');
  copyFileSync(files.zip, renamed);
  expect(post(await all(openRecording(renamed, 'r'))).exchange.request.body).toEqual({ sku: 'x', qty: 2 });
  const other = join(dir, 'photos.jsonl');
  writeFileSync(other, zipSync({ 'a.png': new Uint8Array([1, 2, 3]) }));
  const c = fakeIo();
  expect(await run(['replay', other, '--candidate', url], c.io)).toBe(2);
  expect(c.err.join('\n')).toMatch(/photos\.jsonl is a zip archive with no \.har file in it \(it holds a\.png\)/);
});
