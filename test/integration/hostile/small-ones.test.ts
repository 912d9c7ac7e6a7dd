// The small findings of the second hardening round (#20, item 9), each as it was reproduced:
// a blank token, an oversized header, a huge error reply, a null record.
import { connect } from 'node:net';
import { MemoryBus } from '../../../runtime/bus/memory';
import { startCollector } from '../../../capture/collector';
import { resolveProxyConfig } from '../../../capture/proxy';
import { run } from '../../../cli/main';
import { fakeIo } from '../../helpers/cli';
import { echo, httpServer, proxyFor, quiet } from '../../helpers/proxy';

it('a token of 16 spaces guards nothing: serve and the proxy refuse it', async () => {
  const c = fakeIo({ env: { SHADOWDIFF_REPORT_TOKEN: ' '.repeat(16) } });
  expect(await run(['serve', '--listen', '0.0.0.0:0'], c.io)).toBe(2);
  expect(c.err.join('\n')).toMatch(/SHADOWDIFF_REPORT_TOKEN must hold at least 16 characters besides spaces/);
  expect(() => resolveProxyConfig({ listen: '127.0.0.1:0', legacy: 'http://127.0.0.1:1', candidate: 'http://127.0.0.1:2', admin: { listen: '127.0.0.1:0', token: ' '.repeat(20) } })).toThrow(/admin\.token.*must hold at least 16 characters besides spaces/);
});

it('a request header over the limit gets 431 from the proxy, not 400', async () => {
  const legacy = await httpServer(echo('legacy'));
  const candidate = await httpServer(echo('candidate'));
  const proxy = await proxyFor({ legacy: legacy.url, candidate: candidate.url, sampling: { percent: 0 } });
  try {
    const { port } = new URL(proxy.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(port), '127.0.0.1', () => sock.write(`GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(100 * 1024)}\r\n\r\n`));
      let text = '';
      sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
      sock.on('end', () => resolve(text));
      sock.on('error', reject);
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
  } finally {
    await proxy.close();
    await legacy.close();
    await candidate.close();
  }
});

/** Runs `fn` against a collector on an embedded bus, closed afterwards. */
async function withCollector(fn: (url: string) => Promise<void>): Promise<void> {
  const bus = new MemoryBus({ partitions: 2 });
  const c = await startCollector({ bus, logger: quiet });
  try {
    await fn(`${c.url}/v1/records`);
  } finally {
    await c.close();
    await bus.close();
  }
}

it('the collector answers a large bad batch with a small reply: the first reasons, cut short, and the count', async () => {
  await withCollector(async (url) => {
    const bad = Array.from({ length: 4000 }, (_, i) => ({ v: 1, type: 'effect', runId: 'r', shadowId: `s${i}`, kind: 'x'.repeat(80) }));
    const body = JSON.stringify(bad);
    expect(body.length).toBeGreaterThan(400_000);
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text.length).toBeLessThan(20_000);
    const reply = JSON.parse(text) as { accepted: number; rejected: { index: number; error: string }[]; rejectedCount: number };
    expect([reply.accepted, reply.rejected.length, reply.rejectedCount]).toEqual([0, 20, 4000]);
    expect(reply.rejected.every((r) => r.error.length <= 500)).toBe(true);
  });
});

it('a null record is named as null, not as an object', async () => {
  await withCollector(async (url) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[null]' });
    expect(((await res.json()) as { rejected: { error: string }[] }).rejected[0]!.error).toMatch(/expected a JSON object, got null/);
  });
});
