// `shadowdiff replay`: play a recording at a candidate build (CI) and fail on regressions;
// `shadowdiff export`: write a run's requests and legacy records as a recording.
// Exit codes (replay): 0 no regression, 1 regressions or a gate failed, 2 could not run.
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { configFromEnv, isLoopback, resolveConfig } from '../core/config';
import type { SideRecord } from '../core/effect';
import { ShadowdiffError } from '../core/errors';
import { createLogger } from '../core/logger';
import { orderingKey } from '../replay/engine';
import { readGor } from '../replay/gor';
import { readHar } from '../replay/har';
import { readRecording, type RecordedRequest, writeRequest } from '../replay/recording';
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
import { hostPort, numberFlag } from './options';
import { openRunStore } from './store';
import { eachComparison } from '../runtime/store/store';
import { loadRulesFile } from './rules-file';

interface ReplayFlags {
  candidate: string;
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
  redact?: string;
  junit?: string;
  markdown?: string;
  json?: string;
  maxMismatchRate: number;
  minRequests: number;
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

/** A recording by its name: `.har`, `.gor`, otherwise JSONL; `-` is standard input. */
export function openRecording(file: string, runId: string): AsyncIterable<RecordedRequest> {
  if (/\.har$/i.test(file)) return readHar(file, runId);
  if (/\.gor$/i.test(file)) return readGor(file, runId);
  const input = file === '-' ? process.stdin : createReadStream(file, 'utf8');
  if (file !== '-') {
    input.on('error', () => {}); // surfaced by the reader below with the file named
  }
  return (async function* () {
    try {
      yield* readRecording(input, file === '-' ? 'stdin' : file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read the recording ${file}: ${code}.`, { file });
      throw err;
    }
  })();
}

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
    .option('--redact <file>', 'redaction settings (JSON) the recording was made with, applied to the responses replay records')
    .option('--accept <file>', 'accepted differences: {"accepted": [{"route", "target", "field", "reason", "expires"}]}')
    .option('--max-mismatch-rate <share>', 'share of compared requests allowed to regress, 0-1', num('max-mismatch-rate', 0, 1), 0)
    .option('--min-requests <n>', 'fail with fewer compared requests', num('min-requests', 0), 1)
    .option('--min-coverage <share>', 'share of replayed requests that must be compared completely, 0-1', num('min-coverage', 0, 1), 0.95)
    .option('--compare-timeout-ms <ms>', 'how long a request waits for its records (default 10000)', num('compare-timeout-ms', 100))
    .option('--junit <file>', 'write JUnit XML (a test case per route)')
    .option('--markdown <file>', 'write a Markdown summary (for a pull-request comment)')
    .option('--json <file>', 'write the result as JSON')
    .option('--seed <dir>', 'load <collection>.json / .jsonl fixtures (Extended JSON) into the candidate\'s database first')
    .option('--seed-url <url>', 'the candidate\'s database for --seed, e.g. mongodb://127.0.0.1:27017/shop')
    .option('--handoff-listen <host:port>', 'host the pre-state handoff the services\' SDKs read (their SHADOWDIFF_HANDOFF); baseline: loaded with the recorded before-images')
    .option('--handoff <url>', 'a handoff store the SDKs already use (redis://…, or a proxy\'s http://…); baseline: loaded with the recorded before-images')
    .option('--no-progress', 'no progress bar (it is off anyway when stderr is not a terminal)')
    .action(async (file: string, flags: ReplayFlags) => {
      const candidate = origin('candidate', flags.candidate);
      const legacy = flags.legacy ? origin('legacy', flags.legacy) : undefined;
      const collector = hostPort('collector', flags.collector, '127.0.0.1:7077', '127.0.0.1');
      let key: ReturnType<typeof orderingKey> | undefined;
      if (flags.key) {
        try {
          key = orderingKey(flags.key);
        } catch (err) {
          throw new ShadowdiffError('SHADOWDIFF_USAGE', `${(err as Error).message}.`);
        }
      }
      const accept = flags.accept ? parseAcceptFile(await readJsonFile(flags.accept, 'accepted-differences file'), flags.accept) : [];
      const redact = flags.redact ? ((await readJsonFile(flags.redact, 'redaction settings')) as Record<string, unknown>) : undefined;
      if (redact && io.env.SHADOWDIFF_REDACT_SECRET && redact.secret === undefined) redact.secret = io.env.SHADOWDIFF_REDACT_SECRET;
      const rules = flags.rules ? await loadRulesFile(flags.rules) : undefined;
      if (flags.seed) {
        if (!flags.seedUrl) throw new ShadowdiffError('SHADOWDIFF_USAGE', '--seed needs --seed-url: the candidate\'s database, e.g. mongodb://127.0.0.1:27017/shop.');
        const seeded = await seed(flags.seed, flags.seedUrl);
        io.err(`seeded ${Object.entries(seeded.collections).map(([c, n]) => `${c} (${n})`).join(', ')}`);
      }
      if (flags.handoff && flags.handoffListen) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'give --handoff (a store the SDKs use) or --handoff-listen (replay hosts one), not both.');
      const runId = flags.run ?? `replay-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-')}`;
      const logger = createLogger({ level: 'warn', destination: process.stderr });
      const runtime = await createRuntime(resolveConfig(configFromEnv(io.env)), logger);
      const controller = new AbortController();
      void io.stopSignal().then(() => controller.abort());
      const bar = flags.progress !== false && process.stderr.isTTY ? new SingleBar({ format: 'replay {bar} {value} sent | {rate} req/s | {errors} errors | {inFlight} in flight', stream: process.stderr, hideCursor: true }) : undefined;
      const t0 = Date.now();
      bar?.start(0, 0, { rate: 0, errors: 0, inFlight: 0 });
      const token = io.env.SHADOWDIFF_HANDOFF_TOKEN;
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
        const { summary, result, collectorUrl } = await runSession(openRecording(file, runId), {
          candidate,
          ...(legacy ? { legacy } : {}),
          runId,
          ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
          ...(flags.rate ? { rate: flags.rate } : {}),
          ...(flags.speed ? { speed: flags.speed } : {}),
          ...(key ? { key } : {}),
          ...(flags.timeoutMs ? { timeoutMs: flags.timeoutMs } : {}),
          sdk: flags.sdk !== false,
          ...(redact ? { redact } : {}),
          bus: runtime.bus,
          store: runtime.store,
          collectorHost: collector.host,
          collectorPort: collector.port,
          rules,
          gates: { maxMismatchRate: flags.maxMismatchRate, minRequests: flags.minRequests, minCoverage: flags.minCoverage },
          accept,
          ...(flags.compareTimeoutMs ? { compareTimeoutMs: flags.compareTimeoutMs } : {}),
          ...(handoff ? { handoff } : {}),
          signal: controller.signal,
          logger,
          onProgress: (p) => {
            if (!bar) return;
            bar.setTotal(Math.max(p.read, p.sent));
            bar.update(p.sent, { rate: Math.round(p.sent / Math.max(0.001, (Date.now() - t0) / 1000)), errors: p.errors, inFlight: p.inFlight });
          },
        });
        bar?.stop();
        void collectorUrl;
        if (summary.stopped) io.err(`stopped after ${summary.sent} request(s): the report covers those`);
        io.out(renderText(result));
        if (summary.skipped) io.out(`skipped: ${Object.entries(summary.skippedBy).map(([why, n]) => `${n} (${why})`).join(', ')}`);
        if (summary.preloaded) io.out(`pre-state: the recorded before-images of ${summary.preloaded.documents} document(s) handed to the candidate for ${summary.preloaded.requests} request(s)${summary.preloaded.failed ? `; ${summary.preloaded.failed} request(s) could not be (they ran on the database as it is)` : ''}`);
        if (flags.junit) await writeFile(flags.junit, renderJUnit(result));
        if (flags.markdown) await writeFile(flags.markdown, renderMarkdown(result));
        if (flags.json) await writeFile(flags.json, `${JSON.stringify({ ...result, replay: summary }, null, 2)}\n`);
        io.exitCode(result.passed ? 0 : 1);
      } finally {
        bar?.stop();
        await runtime.close();
        await hosted?.close();
        if (flags.handoff) await handoff?.close();
      }
    });
}

interface ExportFlags {
  run: string;
  route?: string;
  since?: string;
  limit?: number;
  from?: string;
}

export function exportCommand(io: CliIo): Command {
  return new Command('export')
    .description('write a run\'s requests (exchanges) and legacy records as a JSONL recording on stdout')
    .requiredOption('--run <id>', 'the run to export')
    .option('--route <route>', 'only this route, as reports show it: "POST /orders/:id/pay"')
    .option('--since <time>', 'only requests compared at or after this ISO time')
    .option('--limit <n>', 'at most this many requests', num('limit', 1))
    .option('--from <dir>', 'a saved embedded run directory instead of MongoDB (MONGODB_URL)')
    .action(async (flags: ExportFlags) => {
      const since = flags.since ? Date.parse(flags.since) : undefined;
      if (since !== undefined && Number.isNaN(since)) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--since "${flags.since}" is not a date: use e.g. 2026-11-24T10:00:00Z.`);
      const { store, close } = await openRunStore(io, 'export', flags.from);
      const counts = { written: 0, noExchange: 0, noLegacy: 0 };
      try {
        for await (const c of eachComparison(store, { runId: flags.run, ...(flags.route ? { route: flags.route } : {}) }, 500)) {
          if (since !== undefined && Date.parse(c.comparedAt) < since) continue;
          const exchange = await store.getExchange(flags.run, c.shadowId);
          if (!exchange) {
            counts.noExchange += 1;
            continue;
          }
          const legacy = (await store.getEffects(flags.run, c.shadowId)).filter((r): r is SideRecord => r.side === 'legacy');
          if (!legacy.length) counts.noLegacy += 1;
          await writeRequest((io.stdout ?? process.stdout) as unknown as import('node:stream').Writable, { exchange: { v: 1, type: 'exchange', ...exchange }, legacy });
          counts.written += 1;
          if (flags.limit && counts.written >= flags.limit) break;
        }
      } finally {
        await close();
      }
      io.err(`exported ${counts.written} request(s) of run ${flags.run}${counts.noExchange ? `; ${counts.noExchange} without an exchange left out (recorded without a proxy, or not kept: run the worker with --keep-effects all)` : ''}${counts.noLegacy ? `; ${counts.noLegacy} without legacy effects (replayed, they compare responses only)` : ''}`);
      if (counts.written === 0) io.exitCode(1);
    });
}
