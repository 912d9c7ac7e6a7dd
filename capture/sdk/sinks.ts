// Sinks chosen by URL: `amqp(s)://` publishes to the partitioned RabbitMQ topology (design
// decision 9) through the same publisher the workers' bus uses; `http(s)://` posts batches to a
// shadowdiff collector (replay in CI). In-process callers pass a RecordSink or a Bus.
import { redactUrl } from '../../core/net';
import type { WireRecord } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { Compression } from '../../core/settings';
import { connectAmqpPublisher, type StandalonePublisher } from '../../runtime/bus/amqp/publisher';
import type { Bus } from '../../runtime/bus/bus';
import type { RecordSink } from './transport';

export interface SinkOptions {
  logger: Logger;
  /** Topology prefix and partition count: must match the workers'. */
  prefix: string;
  partitions: number;
  /** Bytes per RabbitMQ message when records are packed per partition. */
  packBytes: number;
  /** How each RabbitMQ message is compressed (default none here; the SDK's and the proxy's settings default to br). */
  compression?: Compression;
}

/** The path a collector accepts record batches on, relative to the sink URL. */
export const COLLECTOR_PATH = '/v1/records';

export function sinkFromUrl(url: string, options: SinkOptions): RecordSink {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ShadowdiffError('SHADOWDIFF_CONFIG', `sink "${url}" is not a URL: use amqp://user:pass@host:5672 or http://collector:port.`);
  }
  if (parsed.protocol === 'amqp:' || parsed.protocol === 'amqps:') return amqpSink(url, options);
  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return httpSink(parsed);
  throw new ShadowdiffError('SHADOWDIFF_CONFIG', `sink "${redactUrl(url)}" has an unsupported scheme "${parsed.protocol}": use amqp(s):// or http(s)://.`);
}

/** An in-process bus (the embedded runtime) as a sink. */
export function busSink(bus: Pick<Bus, 'publish'>, packBytes = 0): RecordSink {
  return { description: 'in-process bus', write: (records) => bus.publish(records, packBytes ? { batch: packBytes } : {}) };
}

function amqpSink(url: string, options: SinkOptions): RecordSink {
  let bus: Promise<StandalonePublisher> | undefined;
  const connect = (): Promise<StandalonePublisher> => {
    // Connected on first use and again after a failed attempt: a broker down at startup is an outage like any other.
    bus ??= connectAmqpPublisher({ url, logger: options.logger, prefix: options.prefix, partitions: options.partitions, publishTimeoutMs: 10_000 })
      .catch((err: unknown) => {
        bus = undefined; // the transport retries; the next write reconnects
        throw err;
      });
    return bus;
  };
  return {
    description: redactUrl(url),
    async write(records) {
      const b = await connect();
      await b.publish(records, { ...(options.packBytes ? { batch: options.packBytes } : {}), ...(options.compression ? { compression: options.compression } : {}) });
    },
    async close() {
      const b = await bus?.catch(() => undefined);
      await b?.close();
    },
  };
}

function httpSink(base: URL): RecordSink {
  const target = new URL(COLLECTOR_PATH.slice(1), base.href.endsWith('/') ? base : new URL(`${base.href}/`));
  return {
    description: redactUrl(base.href),
    async write(records: readonly WireRecord[]) {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(records),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (res.status < 300) return;
      // A 4xx other than 408/429 will not change on retry: the records are refused (a caller error).
      const refused = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
      throw new ShadowdiffError(refused ? 'SHADOWDIFF_BAD_RECORD' : 'SHADOWDIFF_SERVICE_UNAVAILABLE', `collector answered ${res.status}: ${text.slice(0, 200)}`, { status: res.status });
    },
  };
}
