// `shadowdiff replay --legacy … --handoff-listen …` as a CI user runs it, the command in its own
// process: a plain service (check-then-insert, read-modify-write, no delays) and an identical
// candidate, both replayed at once with 8 requests in flight (one entity's requests in order,
// `--key`), their SDKs posting to the replay's collector and sharing the replay's handoff.
// Without the handoff this is the race that made 22% of such requests look like regressions
// and the summary blame missing seed data.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MongoClient } from 'mongodb';
import { createShadow } from '../../../capture/sdk';
import { listen, plainService } from '../../helpers/plain-service';
import { deadUrl, quiet } from '../../helpers/proxy';
import { connectMongo, uniqueDbName } from '../../helpers/services';

const port = async () => Number(new URL(await deadUrl()).port);

describe('paired replay with the replay-hosted handoff', () => {
  let client: MongoClient;
  const dbName = uniqueDbName('paired_handoff');
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await client?.db(dbName).dropDatabase();
    await client?.close();
  });

  it('an identical candidate passes with no regression, next to nothing inconclusive, and nothing blames seed data', async () => {
    client = await connectMongo();
    const [collector, handoffPort] = [await port(), await port()];
    // Both services, their SDKs and the replay (collector, pipeline, handoff) share this machine's 2 cores; on a box of
    // their own the default wait does.
    const sdk = { sink: `http://127.0.0.1:${collector}`, handoff: { store: `http://127.0.0.1:${handoffPort}`, waitMs: 100 }, logger: quiet, buffer: { lingerMs: 1 } };
    const legacy = createShadow({ side: 'legacy', ...sdk });
    const candidate = createShadow({ side: 'candidate', ...sdk });
    const l = await listen(plainService(legacy, client, dbName));
    const c = await listen(plainService(candidate, client, dbName));
    closers.push(l.close, c.close, () => legacy.close(), () => candidate.close());

    const dir = mkdtempSync(join(tmpdir(), 'sd-paired-'));
    const recording = join(dir, 'traffic.jsonl');
    const lines = Array.from({ length: 150 }, (_, i) => {
      const [method, path, body, entity] = i % 3 === 0 ? ['POST', '/users', { email: `u${i % 20}@x` }, `u${i % 20}`] : i % 3 === 1 ? ['POST', `/accounts/a${i % 6}/credit`, {}, `a${i % 6}`] : ['GET', `/accounts/a${i % 6}`, undefined, `a${i % 6}`];
      const route = path.replace(/a\d$|a\d(?=\/)/, ':id');
      return JSON.stringify({ v: 1, type: 'exchange', runId: 'prod', shadowId: `p${i}`, at: new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString(), request: { method, path, route, headers: { 'content-type': 'application/json', 'x-entity': entity }, ...(body ? { body } : {}) }, responses: { legacy: { status: 200 } } });
    });
    writeFileSync(recording, `${lines.join('\n')}\n`);

    const BIN = resolve(__dirname, '../../../bin/shadowdiff.js');
    const args = ['replay', recording, '--candidate', c.url, '--legacy', l.url, '--collector', `127.0.0.1:${collector}`, '--handoff-listen', `127.0.0.1:${handoffPort}`, '--concurrency', '8', '--key', 'header:x-entity', '--no-progress'];
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, AMQP_URL: '', MONGODB_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    const text = stdout.trim();
    const err = [stderr];
    expect({ code, text }).toEqual({ code: 0, text: expect.stringMatching(/^PASS replay .*: 150 replayed, 150 compared, 0 regression\(s\), coverage (100\.0|9\d\.\d)%/) });
    expect(text).not.toMatch(/seed data/);
    expect(err.join('\n')).toContain(`pre-state handoff on http://127.0.0.1:${handoffPort}`);
    // A handoff that misses its wait makes its request inconclusive, said and counted, never a regression.
    const inconclusive = [...text.matchAll(/(\d+) inconclusive/g)].reduce((n, m) => n + Number(m[1]), 0);
    const s = legacy.stats().handoff!;
    expect(inconclusive).toBe(s.timeouts + s.skipped);
    expect(inconclusive).toBeLessThanOrEqual(5);
    expect([...text.matchAll(/inconclusive: (.*) \(\d+\)/g)].map((m) => m[1])).toEqual(expect.arrayContaining(inconclusive ? ['legacy: pre-state unknown'] : []));
    expect(s.failures).toBe(0);
    expect(s.handedOff).toBeGreaterThan(50);
  });
});
