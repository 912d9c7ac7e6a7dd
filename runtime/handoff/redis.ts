// The handoff in Redis: shared by several proxies and services, or used when Envoy, Istio or
// nginx mirror instead of `shadowdiff proxy`. One hash per request; a put is one MULTI
// (HSETNX keeps an image's first version, PEXPIRE renews the key), a get one HGETALL. A single
// Redis (or one Cluster slot per key) answers linearizably; after a failover to a replica
// acknowledged puts can be lost, which makes a comparison wrong only for the requests in flight.
import Redis from 'ioredis';
import { ShadowdiffError } from '../../core/errors';
import { redactUrl } from '../../core/net';
import { DEFAULT_PREFIX } from '../../core/settings';
import { DEFAULT_HANDOFF_TTL_MS, type Handoff, type HandoffPut, type HandoffSnapshot, type HandoffStoreOptions, imageField, snapshotOf, upsertField } from './handoff';

export interface RedisHandoffOptions extends HandoffStoreOptions {
  url: string;
  /** Key prefix: `<prefix>:handoff:<run>:<shadow id>`. */
  prefix?: string;
  /** A command not answered in this time fails (the SDK's own wait is shorter still). */
  commandTimeoutMs?: number;
}

export class RedisHandoff implements Handoff {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly ttlMs: number;
  private readonly prefix: string;

  constructor(options: RedisHandoffOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new ShadowdiffError('SHADOWDIFF_CONFIG', `handoff "${options.url}" is not a URL: use redis://host:6379.`);
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new ShadowdiffError('SHADOWDIFF_CONFIG', `handoff "${redactUrl(options.url)}" is not a redis:// URL.`);
    this.ttlMs = options.ttlMs ?? DEFAULT_HANDOFF_TTL_MS;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.redis = new Redis(options.url, {
      // Never queue commands while disconnected: a put that cannot be made now is of no use later.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 1_000,
      lazyConnect: false,
      retryStrategy: (times) => Math.min(times * 100, 2_000),
    });
    // Errors reach the caller through the command that failed; the connection's own events are not ours to crash on.
    this.redis.on('error', () => undefined);
  }

  private key(runId: string, shadowId: string): string {
    return `${this.prefix}:handoff:${runId}:${shadowId}`;
  }

  async put(runId: string, shadowId: string, put: HandoffPut): Promise<void> {
    const key = this.key(runId, shadowId);
    const m = this.redis.multi();
    for (const img of put.images ?? []) m.hsetnx(key, imageField(img.ns, img.id), JSON.stringify(img));
    for (const u of put.upserts ?? []) {
      if (u.ids !== undefined) m.hset(key, upsertField(u.token), JSON.stringify(u));
      else m.hsetnx(key, upsertField(u.token), JSON.stringify(u));
    }
    m.pexpire(key, this.ttlMs);
    const results = await m.exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', 'redis: transaction discarded');
  }

  async get(runId: string, shadowId: string): Promise<HandoffSnapshot> {
    const fields = await this.redis.hgetall(this.key(runId, shadowId));
    return snapshotOf(Object.values(fields));
  }

  /** Resolves once connected (tests and startup checks); rejects after `timeoutMs`. */
  async ready(timeoutMs = 5_000): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', 'the handoff Redis did not answer: is it running at the configured URL?')), timeoutMs);
      this.redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
