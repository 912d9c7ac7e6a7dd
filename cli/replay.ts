// `shadowdiff replay`: play a recording at a candidate build (CI) and fail on regressions.
// Exit codes (replay): 0 no regression, 1 regressions or a gate failed, 2 could not run.
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { configFromEnv, resolveConfig } from '../core/config';
import { isLoopback } from '../core/net';
import { ShadowdiffError } from '../core/errors';
import { createLogger } from '../core/logger';
import { orderingKey } from '../replay/engine';
import { openRecording } from '../replay/open';
import { reportBadLines } from './bad-lines';
import { type BadLine, firstBadLine } from '../core/jsonl';
import { parseAcceptFile } from '../compare/accept';
import { renderJUnit } from '../report/render/junit';
import { renderMarkdown } from '../report/render/markdown';
import { renderText } from '../report/render/summary';
import { seed } from '../replay/seed';
import { runSession } from '../replay/session';
import { createRuntime } from '../runtime';
import { handoffFromUrl } from '../runtime/handoff';
import type { Handoff } from '../runtime/handoff/handoff';
import { listenHandoff } from '../runtime/handoff/http';
import { readJsonFile } from './config-file';
import type { CliIo } from './io';
import { commandEnv } from './env';
import type { RouteMinimum } from '../compare/readiness';
import { hostPort, numberFlag, routeMinimumFlag } from './options';
import { loadRewrite, staticHeaders } from './rewrite-file';
import { loadRules } from './rules-file';

interface ReplayFlags {
  candidate: string;
  header?: string[];
  rewrite?: string;
  maxUnauthorizedRate: number;
  legacy?: string;
  run?: string;
  concurrency?: number;
  rate?: number;
  speed?: number;
  key?: string;
  timeoutMs?: number;
  sdk?: boolean;
  collector: string;
  rules?: string;
  consumers?: string;
  redact?: string;
  junit?: string;
  markdown?: string;
  json?: string;
  maxMismatchRate: number;
  minRequests: number;
  routeMinRequests: RouteMinimum[];
  minCoverage: number;
  accept?: string;
  compareTimeoutMs?: number;
  progress?: boolean;
  seed?: string;
  seedUrl?: string;
  handoff?: string;
  handoffListen?: string;
}

const num = (flag: string, min: number, max = Infinity) => numberFlag(flag, { min, max });

const origin = (flag: string, v: string) => {
  try {
    const u = new URL(v);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.origin;
  } catch {
    // reported below
  }
  throw new ShadowdiffError('SHADOWDIFF_USAGE', `--${flag} "${v}" must be a service origin such as http://127.0.0.1:8080.`);
};

export function replayCommand(io: CliIo): Command {
  return new Command('replay')
    .description('replay a recording at a candidate (dry-run) and compare with the recorded legacy effects; exit 0 no regression, 1 regressions, 2 could not run')
    .argument('<recording>', 'a JSONL recording (shadowdiff export), a .har or GoReplay .gor file, or - for stdin')
    .requiredOption('--candidate <url>', 'the candidate build, running with its SDK sink at the collector (see --collector)')
    .option('--legacy <url>', 'paired mode: replay to this legacy too (live) instead of using the recorded legacy effects')
    .option('--run <id>', 'run id of this replay (default replay-<time>)')
    .option('--concurrency <n>', 'requests in flight (default 16)', num('concurrency', 1, 10_000))
    .option('--rate <n>', 'requests per second at most', num('rate', 0.001))
    .option('--speed <factor>', 'original timing, sped up by this factor (2 = twice as fast)', num('speed', 0.001))
    .option('--key <spec>', 'keep order per key: header:NAME or path:REGEX (e.g. "path:/orders/([^/]+)")')
    .option('--timeout-ms <ms>', 'per request and side (default 30000)', num('timeout-ms', 1))
    .option('--no-sdk', 'the services do not run the SDK: compare responses only')
    .option('--collector <host:port>', 'where the SDKs post their records (their SHADOWDIFF_SINK)', '127.0.0.1:7077')
    .option('--rules <file>', 'comparison rules (.json, .js, .cjs, .mjs)')
    .option('--consumers <file>', 'who reads the data: a consumers file (docs/consumers.md); its consumers join the rules\' own')
    .option('--redact <file>', 'redaction settings (JSON) the recording was made with, applied to the responses replay records')
    .option('--accept <file>', 'accepted differences: {"accepted": [{"route", "target", "field", "reason", "expires"}]}')
    .option('--max-mismatch-rate <share>', 'share of compared requests allowed to regress, 0-1', num('max-mismatch-rate', 0, 1), 0)
    .option('--min-requests <n>', 'fail with fewer compared requests', num('min-requests', 0), 1)
    .option('--route-min-requests <route=n>', 'per route class (a glob over "METHOD /route"), the complete comparisons its routes need; repeatable, the first match decides', routeMinimumFlag, [])
    .option('--min-coverage <share>', 'share of replayed requests that must be compared completely, 0-1', num('min-coverage', 0, 1), 0.95)
    .option('--compare-timeout-ms <ms>', 'how long a request waits for its records (default 10000)', num('compare-timeout-ms', 100))
    .option('--junit <file>', 'write JUnit XML (a test case per route)')
    .option('--markdown <file>', 'write a Markdown summary (for a pull-request comment)')
    .option('--json <file>', 'write the result as JSON')
    .option('--seed <dir>', 'load <collection>.json / .jsonl fixtures (Extended JSON) into the candidate\'s database first')
    .option('--header <name: value>', 'add a header to every replayed request, e.g. \'authorization: Bearer $TOKEN\' ($NAME is read from the environment; repeat)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--rewrite <file>', 'a module that changes each request before it is sent (per-request tokens): export default (request) => request, or null to leave it out')
    .option('--max-unauthorized-rate <share>', 'share of requests that may answer 401/403 on both sides, 0-1 (they test nothing behind the login)', num('max-unauthorized-rate', 0, 1), 0)
    .option('--seed-url <url>', 'the candidate\'s database for --seed, e.g. mongodb://127.0.0.1:27017/shop')
    .option('--handoff-listen <host:port>', 'host the pre-state handoff the services\' SDKs read (their SHADOWDIFF_HANDOFF); baseline: loaded with the recorded before-images')
    .option('--handoff <url>', 'a handoff store the SDKs already use (redis://…, or a proxy\'s http://…); baseline: loaded with the recorded before-images')
    .option('--no-progress', 'no progress bar (it is off anyway when stderr is not a terminal)')
    .action(async (file: string, flags: ReplayFlags) => {
      const candidate = origin('candidate', flags.candidate);
      const legacy = flags.legacy ? origin('legacy', flags.legacy) : undefined;
      const collector = hostPort('collector', flags.collector, '127.0.0.1:7077', '127.0.0.1');
      const key = flags.key ? orderingKey(flags.key) : undefined;
      const headers = flags.header ? staticHeaders(flags.header, io.env) : undefined;
      const rewrite = flags.rewrite ? await loadRewrite(flags.rewrite) : undefined;
      const accept = flags.accept ? parseAcceptFile(await readJsonFile(flags.accept, 'accepted-differences file'), flags.accept) : [];
      const redact = flags.redact ? ((await readJsonFile(flags.redact, 'redaction settings')) as Record<string, unknown>) : undefined;
      const env = commandEnv(io.env);
      if (redact && env.redactSecret && redact.secret === undefined) redact.secret = env.redactSecret;
      const rules = await loadRules(flags);
      if (flags.seed) {
        if (!flags.seedUrl) throw new ShadowdiffError('SHADOWDIFF_USAGE', '--seed needs --seed-url: the candidate\'s database, e.g. mongodb://127.0.0.1:27017/shop.');
        const seeded = await seed(flags.seed, flags.seedUrl);
        io.err(`seeded ${Object.entries(seeded.collections).map(([c, n]) => `${c} (${n})`).join(', ')}`);
      }
      if (flags.handoff && flags.handoffListen) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'give --handoff (a store the SDKs use) or --handoff-listen (replay hosts one), not both.');
      const runId = flags.run ?? `replay-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-')}`;
      const logger = createLogger({ level: 'warn', destination: io.stderr });
      const runtime = await createRuntime(resolveConfig(configFromEnv(io.env)), logger);
      const controller = new AbortController();
      void io.stopSignal().then(() => controller.abort());
      const bar = flags.progress !== false && io.stderr.isTTY ? new SingleBar({ format: 'replay {bar} {value} sent | {rate} req/s | {errors} errors | {inFlight} in flight', stream: io.stderr, hideCursor: true }) : undefined;
      const t0 = Date.now();
      bar?.start(0, 0, { rate: 0, errors: 0, inFlight: 0 });
      const token = env.handoffToken;
      let handoff: Handoff | undefined;
      let hosted: Awaited<ReturnType<typeof listenHandoff>> | undefined;
      try {
        if (flags.handoffListen) {
          const at = hostPort('handoff-listen', flags.handoffListen, '127.0.0.1:7081', '127.0.0.1');
          if (!isLoopback(at.host) && !token) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--handoff-listen ${flags.handoffListen} is not loopback: set SHADOWDIFF_HANDOFF_TOKEN (the SDKs send the same token).`);
          hosted = await listenHandoff({ host: at.host, port: at.port, token });
          handoff = hosted.store;
          io.err(`pre-state handoff on ${hosted.url} (the services' SDKs: SHADOWDIFF_HANDOFF=${hosted.url})`);
        } else if (flags.handoff) handoff = handoffFromUrl(flags.handoff, { token, setting: '--handoff' });
        const badLines: BadLine[] = [];
        const { summary, result } = await runSession(withBadLines(openRecording(file, runId, io.stdin, { onBadLine: (b) => void badLines.push(b) }), badLines), {
          candidate,
          legacy,
          runId,
          concurrency: flags.concurrency,
          rate: flags.rate,
          speed: flags.speed,
          key,
          headers,
          rewrite,
          maxUnauthorizedRate: flags.maxUnauthorizedRate,
          timeoutMs: flags.timeoutMs,
          sdk: flags.sdk !== false,
          redact,
          bus: runtime.bus,
          store: runtime.store,
          collectorHost: collector.host,
          collectorPort: collector.port,
          rules,
          gates: { maxMismatchRate: flags.maxMismatchRate, minRequests: flags.minRequests, minCoverage: flags.minCoverage, routeMinRequests: flags.routeMinRequests },
          accept,
          compareTimeoutMs: flags.compareTimeoutMs,
          handoff,
          signal: controller.signal,
          logger,
          onProgress: (p) => {
            if (!bar) return;
            bar.setTotal(Math.max(p.read, p.sent));
            bar.update(p.sent, { rate: Math.round(p.sent / Math.max(0.001, (Date.now() - t0) / 1000)), errors: p.errors, inFlight: p.inFlight });
          },
        });
        bar?.stop();
        if (summary.stopped) io.err(`stopped after ${summary.sent} request(s): the report covers those`);
        io.out(renderText(result));
        if (summary.candidateUnauthorized) io.out(`${summary.candidateUnauthorized} request(s) the candidate answered 401/403 where legacy did not: does it need credentials the recording left out (--header, --rewrite)?`);
        if (summary.bothFailed) io.out(`${summary.bothFailed} request(s) answered 5xx on both sides: they compare equal but test nothing. Do the recorded ids already exist in the databases (a recording replayed twice, or seeded with the same data)? Seed fresh data, or drop the documents the recording creates.`);
        if (summary.skipped) io.out(`skipped: ${Object.entries(summary.skippedBy).map(([why, n]) => `${n} (${why})`).join(', ')}`);
        if (summary.preloaded) io.out(`pre-state: the recorded before-images of ${summary.preloaded.documents} document(s) handed to the candidate for ${summary.preloaded.requests} request(s)${summary.preloaded.failed ? `; ${summary.preloaded.failed} request(s) could not be (they ran on the database as it is)` : ''}`);
        if (flags.junit) await writeFile(flags.junit, renderJUnit(result));
        if (flags.markdown) await writeFile(flags.markdown, renderMarkdown(result));
        if (flags.json) await writeFile(flags.json, `${JSON.stringify({ ...result, replay: summary, ...(badLines.length ? { badLines } : {}) }, null, 2)}\n`);
        reportBadLines(io, badLines, 'replayed');
        io.exitCode(badLines.length ? 2 : result.passed ? 0 : 1);
      } finally {
        bar?.stop();
        await runtime.close();
        await hosted?.close();
        if (flags.handoff) await handoff?.close();
      }
    });
}

/** The requests of a recording; one whose every line was bad fails as its first bad line would. */
async function* withBadLines<T>(requests: AsyncIterable<T>, badLines: readonly BadLine[]): AsyncGenerator<T> {
  let read = 0;
  for await (const r of requests) {
    read += 1;
    yield r;
  }
  if (read === 0 && badLines.length) throw firstBadLine(badLines);
}
