// The Mongoose blog example end to end, in one process: legacy (live) and the candidate
// (dry-run, one seeded bug) on one MongoDB database, the capture proxy in front of legacy
// mirroring every request, an embedded bus, store and comparator worker, and traffic from plain
// `fetch` clients, several at once, with no delays. Both services share a pre-state handoff, so
// the candidate never reads legacy's own writes of the request it is comparing.
//
//   const result = await runBlogExample({ mongodbUrl, dbName, logger });
//
// The test (test/integration/examples/mongoose.test.ts) runs it against the MongoDB-wire server.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Mongoose } from 'mongoose';
import { resolveProxyConfig, type RunningProxy, startProxy } from '../../capture/proxy';
import { createShadow, type ShadowSdk } from '../../capture/sdk';
import { busSink } from '../../capture/sdk/sinks';
import { compileRules, type RulesInput } from '../../compare/engine';
import { Evaluator, type ReplayResult } from '../../compare/readiness';
import { resolveConfig } from '../../core/config';
import { componentLogger, type Logger } from '../../core/logger';
import { Worker } from '../../pipeline/worker';
import { createRuntime } from '../../runtime';
import { MemoryHandoff } from '../../runtime/handoff/memory';
import { eachComparison } from '../../runtime/store/store';
import { settleExchanges } from '../orders/shop';
import { blogApp } from './blog';

export interface BlogExampleOptions {
  mongodbUrl: string;
  /** Emptied first. */
  dbName: string;
  logger: Logger;
  /** Writers working at once, each its own user's flow (default 4). */
  concurrency?: number;
  /** Flows per writer (default 6). */
  flows?: number;
}

export interface BlogExampleResult {
  runId: string;
  sent: number;
  result: ReplayResult;
  /** What each side's SDK saw (the candidate's must show it wired). */
  stats: Record<'legacy' | 'candidate', ReturnType<ShadowSdk['stats']>>;
  /** The commands the candidate's driver sent the server, by name: a dry-run sends reads only. */
  candidateCommands: Record<string, number>;
}

/** The comparison rules: when each side wrote is never the same millisecond. */
export function blogRules(): RulesInput {
  return { version: 1, ignore: ['**.createdAt', '**.updatedAt'] };
}

export async function runBlogExample(o: BlogExampleOptions): Promise<BlogExampleResult> {
  const log = o.logger;
  const stack: (() => Promise<unknown>)[] = [];
  try {
    const runId = `blog-${Date.now().toString(36)}`;
    const runtime = await createRuntime(resolveConfig({}), log);
    stack.push(() => runtime.close());
    const worker = new Worker({ bus: runtime.bus, store: runtime.store, logger: componentLogger(log, 'worker'), rules: compileRules(blogRules(), 'examples/mongoose/run.ts'), settleMs: 150, timeoutMs: 5_000, alerts: false });
    await worker.start();
    stack.push(() => worker.stop());

    const handoff = new MemoryHandoff();
    stack.push(() => handoff.close());
    const sides = {} as Record<'legacy' | 'candidate', { url: string; shadow: ShadowSdk; mongoose: Mongoose }>;
    const candidateCommands: Record<string, number> = {};
    for (const side of ['legacy', 'candidate'] as const) {
      const m = new Mongoose();
      const shadow = createShadow({ side, sink: runtime.bus, handoff: { store: handoff }, logger: componentLogger(log, side) });
      const app = blogApp({ mongoose: m, shadow, variant: side });
      // Mongoose's defaults, autoIndex and autoCreate on: the candidate's stay in the SDK.
      await m.connect(o.mongodbUrl, { dbName: o.dbName, monitorCommands: side === 'candidate' });
      if (side === 'legacy') await m.connection.db!.dropDatabase();
      if (side === 'candidate') m.connection.getClient().on('commandStarted', (e: { commandName: string }) => void (candidateCommands[e.commandName] = (candidateCommands[e.commandName] ?? 0) + 1));
      await Promise.all(Object.values(m.models).map((model) => model.init()));
      const server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      stack.push(async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
        await shadow.close();
        await m.disconnect();
      });
      sides[side] = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, shadow, mongoose: m };
    }

    const proxy: RunningProxy = await startProxy(resolveProxyConfig({ listen: '127.0.0.1:0', legacy: sides.legacy.url, candidate: sides.candidate.url, run: runId, sampling: { percent: 100 }, drainMs: 2_000 }), {
      logger: componentLogger(log, 'proxy'),
      sink: busSink(runtime.bus),
      defaultMetrics: false,
    });
    stack.push(() => proxy.close());

    const sent = await traffic(proxy.url, o.concurrency ?? 4, o.flows ?? 6);
    await settleExchanges(proxy);
    const deadline = Date.now() + 20_000;
    while ((await runtime.store.countComparisons(runId)) < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await worker.drain();
    const evaluator = new Evaluator(runId);
    for await (const c of eachComparison(runtime.store, { runId })) evaluator.add(c);
    const result = evaluator.result(sent, { minRequests: 3, maxMismatchRate: 0, minCoverage: 0.95 });
    return { runId, sent, result, stats: { legacy: sides.legacy.shadow.stats(), candidate: sides.candidate.shadow.stats() }, candidateCommands };
  } finally {
    for (const close of stack.reverse()) await close().catch((err: Error) => log.warn({ err: err.message }, 'blog example: stopping a part failed'));
  }
}

/**
 * A writer's flows, several writers at once: sign up, follow the first author, write an article,
 * read it, edit it, comment twice, favorite it, clear its comments. Returns how many requests
 * were sent. Every answer is checked: the proxy must not change what legacy says.
 */
async function traffic(base: string, writers: number, flows: number): Promise<number> {
  let sent = 0;
  const call = async (method: string, path: string, body?: unknown, expected = [200, 201]) => {
    sent += 1;
    const res = await fetch(`${base}${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, ...(body ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    if (!expected.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  await call('POST', '/api/users', { user: { username: 'editor', email: 'editor@example.com' } });
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let f = 0; f < flows; f++) {
        const username = `writer${w}-${f}`;
        await call('POST', '/api/users', { user: { username, email: `${username}@example.com` } });
        await call('POST', '/api/users', { user: { username, email: 'again@example.com' } }, [422]); // taken: the plugin's count
        await call('POST', '/api/profiles/editor/follow', { follower: username });
        const title = `Notes ${w}.${f} on shadow traffic`;
        const { article } = (await call('POST', '/api/articles', { article: { title, description: 'what we learned', body: 'first draft', tagList: ['shadow', `w${w}`], author: username } })) as { article: { slug: string } };
        await call('GET', `/api/articles/${article.slug}`);
        await call('PUT', `/api/articles/${article.slug}`, { article: { body: 'second draft' } });
        await call('POST', `/api/articles/${article.slug}/comments`, { comment: { author: 'editor', body: 'nice' } });
        await call('POST', `/api/articles/${article.slug}/comments`, { comment: { author: username, body: 'thanks' } });
        await call('POST', `/api/articles/${article.slug}/favorite`, { username: 'editor' });
        await call('DELETE', `/api/articles/${article.slug}/comments`);
        await call('GET', `/api/articles/${article.slug}`);
      }
    }),
  );
  return sent;
}
