// The HTTP collector: where SDKs with an `http(s)://` sink post their records (replay in CI,
// services that cannot reach RabbitMQ). Each record is validated as the worker would; valid
// ones go to the bus, invalid ones are refused by index with the reason. Bodies are capped.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseWireRecord, type WireRecord } from '../core/effect';
import { parseJson } from '../core/json';
import type { Logger } from '../core/logger';
import { listeningUrl } from '../core/net';
import type { Bus } from '../runtime/bus/bus';
import { COLLECTOR_PATH } from './sdk/sinks';

export interface CollectorOptions {
  bus: Pick<Bus, 'publish'>;
  logger: Logger;
  /** Largest request body accepted, in bytes (default 16 MiB). */
  maxBodyBytes?: number;
}

export interface CollectorStats {
  accepted: number;
  rejected: number;
}

export interface Collector {
  readonly server: Server;
  readonly url: string;
  stats(): CollectorStats;
  close(): Promise<void>;
}

export async function startCollector(options: CollectorOptions & { host?: string; port?: number }): Promise<Collector> {
  const handler = collectorHandler(options);
  const server = createServer((req, res) => {
    handler.handle(req, res).catch((err: Error) => {
      options.logger.error({ err: err.message }, 'collector: a request failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  return {
    server,
    url: listeningUrl(server.address() as AddressInfo),
    stats: handler.stats,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Refusals whose reasons a reply lists, and how long each reason may be. */
const MAX_REASONS = 20;
const MAX_REASON_CHARS = 500;

/** Fails on bytes that are not UTF-8, where Buffer#toString would quietly replace them. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export function collectorHandler(options: CollectorOptions) {
  const max = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const counters: CollectorStats = { accepted: 0, rejected: 0 };
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  return {
    stats: () => ({ ...counters }),
    async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      if (req.url?.split('?')[0] !== COLLECTOR_PATH) return reply(res, 404, { error: `not found: records are posted to ${COLLECTOR_PATH}` });
      if (req.method !== 'POST') return reply(res, 405, { error: `use POST ${COLLECTOR_PATH}` });
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of req) {
          size += (chunk as Buffer).length;
          if (size > max) {
            // Answer first, then drop the connection: destroying the request first would lose the answer.
            res.setHeader('connection', 'close');
            reply(res, 413, { error: `body over ${max} bytes: send smaller batches` });
            res.once('finish', () => req.destroy());
            return;
          }
          chunks.push(chunk as Buffer);
        }
      } catch {
        return; // the sender hung up mid-body: nothing to answer, nothing accepted
      }
      let body: unknown;
      try {
        body = parseJson(UTF8.decode(Buffer.concat(chunks)), 'request body');
      } catch (err) {
        const message = err instanceof TypeError ? 'request body: not valid UTF-8.' : (err as Error).message;
        return reply(res, 400, { error: message });
      }
      const list = Array.isArray(body) ? body : [body];
      const valid: WireRecord[] = [];
      const rejected: { index: number; error: string }[] = [];
      list.forEach((item, index) => {
        try {
          valid.push(parseWireRecord(item, `record ${index}`));
        } catch (err) {
          rejected.push({ index, error: (err as Error).message });
        }
      });
      try {
        if (valid.length) await options.bus.publish(valid);
      } catch (err) {
        options.logger.warn({ err: (err as Error).message }, 'collector could not publish records; the sender will retry');
        return reply(res, 503, { error: 'the bus did not accept the records; retry' });
      }
      counters.accepted += valid.length;
      counters.rejected += rejected.length;
      // The reasons of the first refusals, each cut short: a bad batch never gets a reply larger than itself.
      const shown = rejected.slice(0, MAX_REASONS).map((r) => ({ index: r.index, error: r.error.length > MAX_REASON_CHARS ? `${r.error.slice(0, MAX_REASON_CHARS - 1)}…` : r.error }));
      reply(res, rejected.length && !valid.length ? 400 : 200, { accepted: valid.length, rejected: shown, ...(rejected.length > shown.length ? { rejectedCount: rejected.length } : {}) });
    },
  };
}
