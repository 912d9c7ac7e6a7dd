// `shadowdiff proxy` settings: one zod schema with the defaults, merged from a JSON file, the
// environment and flags (later wins) and validated once at start. docs/proxy.md lists them.
import { z } from 'zod';
import { envLayer, resolveWith } from '../../core/config';
import { FORMAT_VERSION, formatVersionSchema } from '../../core/effect';
import { isLoopback } from '../../core/net';
import { redactionSchema } from '../../core/redaction';
import { compressionSchema, partitionsSchema, prefixSchema, secretSchema } from '../../core/settings';
import { signingSchema } from '../../core/signing';
import { cutoverSchema } from './cutover';

const upstream = (what: string) =>
  z.string().refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && (u.pathname === '/' || u.pathname === '') && !u.search;
    } catch {
      return false;
    }
  }, `must be the ${what}'s origin, e.g. http://10.0.0.5:8080 (http or https, no path)`);

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[\w.-]*):\d{1,5}$/, 'must be HOST:PORT, e.g. 0.0.0.0:8080 or 127.0.0.1:9090');

const percent = z.number().min(0, 'must be 0-100').max(100, 'must be 0-100');

/** A share of requests for those matching a route: `POST /orders/:id/pay`, `/orders/*rest`. */
export const routeRuleSchema = z
  .object({
    /** Express-style path pattern, optionally preceded by a method: `GET /orders/:id`, `/admin/*rest`. */
    route: z.string().min(1).max(500),
    percent,
  })
  .strict();

export const samplingSchema = z
  .object({
    /** Share of requests mirrored (those no route rule matches). */
    percent: percent.default(100),
    /** First matching rule wins over `percent`. */
    routes: z.array(routeRuleSchema).max(1000).default([]),
    /** The kill switch: false mirrors nothing, whatever the percentages say. */
    enabled: z.boolean().default(true),
    /**
     * Sample by this request header's value instead of at random (e.g. `x-user-id`): one
     * customer's requests are all mirrored or none. Requests without it are sampled at random.
     */
    key: z.string().min(1).max(200).regex(/^[\w-]+$/, 'a header name').optional(),
  })
  .strict();

export type SamplingConfig = z.infer<typeof samplingSchema>;

export const proxyConfigSchema = z
  .object({
    /** env SHADOWDIFF_LISTEN. Where clients connect. */
    listen: hostPort.default('127.0.0.1:8080'),
    /** env SHADOWDIFF_LEGACY. The production service: every request goes there. */
    legacy: upstream('legacy service'),
    /** env SHADOWDIFF_CANDIDATE. The rewrite, in dry-run: sampled requests are mirrored here. */
    candidate: upstream('candidate service'),
    /** env SHADOWDIFF_SECONDARY. A second legacy instance in dry-run, to learn noise. */
    secondary: upstream('secondary service').optional(),
    /** env SHADOWDIFF_RUN. The run this traffic belongs to. */
    run: z.string().regex(/^[\w.:-]{1,200}$/, '1-200 letters, digits or . _ : -').optional(),
    /** env SHADOWDIFF_SINK. Where exchange records go (amqp:// or http:// collector); unset: none. */
    sink: z.string().optional(),
    /** Topology of an amqp sink: must match the workers'. env SHADOWDIFF_PREFIX / SHADOWDIFF_PARTITIONS. */
    prefix: prefixSchema,
    partitions: partitionsSchema,
    /** env SHADOWDIFF_FORMAT. The effect format's version written: 2 (default), or 1 for workers older than format 2. */
    format: formatVersionSchema.default(FORMAT_VERSION),
    /** env SHADOWDIFF_COMPRESSION. How an amqp sink's messages are compressed: br (default), deflate or none. */
    compression: compressionSchema,
    /** Whether the services run the SDK: false makes each exchange complete on its own. */
    sdk: z.boolean().default(true),
    /** Send the original Host header upstream (default: the upstream's, as nginx does). */
    preserveHost: z.boolean().default(false),
    sampling: samplingSchema.prefault({}),
    /** Cutover (docs/cutover.md): shares of live traffic the candidate serves, global and per route. */
    cutover: cutoverSchema.prefault({}),
    /**
     * env SHADOWDIFF_SIGNING_KEY. The proxy signs the shadow headers of every dry-run side with it;
     * the SDKs share it (their signing.key). Needed for a cutover: a live service runs a request in
     * dry-run only on a good signature.
     */
    signing: signingSchema.optional(),
    upstream: z
      .object({
        /** Waiting for the legacy response's headers; past it the client gets 504. */
        headersTimeoutMs: z.number().int().min(1).max(3_600_000).default(60_000),
        /** Silence between legacy response body chunks; past it the connection is cut. */
        bodyTimeoutMs: z.number().int().min(1).max(3_600_000).default(60_000),
        connectTimeoutMs: z.number().int().min(1).max(600_000).default(10_000),
      })
      .strict()
      .prefault({}),
    client: z
      .object({
        /** A client must send its request headers within this; past it the connection gets 408 and is closed. */
        headersTimeoutMs: z.number().int().min(100).max(3_600_000).default(20_000),
        /** …and the whole request, body included (a slow upload); 0: no limit. */
        requestTimeoutMs: z.number().int().min(0).max(86_400_000).default(300_000),
        /**
         * Open connections from one client address; beyond, a new one is answered 503 and closed
         * (counted). 0: no cap. Behind a load balancer every connection comes from its few
         * addresses: raise it to what the balancer opens, or set 0.
         */
        maxConnectionsPerIp: z.number().int().min(0).max(1_000_000).default(1_000),
      })
      .strict()
      .prefault({}),
    mirror: z
      .object({
        /** Mirrors in flight at once, per target; beyond, a sampled request is not mirrored (counted). */
        maxInFlight: z.number().int().min(1).max(100_000).default(256),
        /** A mirror is abandoned after this long (counted as an error; the comparison says why). */
        timeoutMs: z.number().int().min(1).max(600_000).default(5_000),
        /** Requests with a bigger body are forwarded but not mirrored (counted). */
        maxBodyBytes: z.number().int().min(0).max(1 << 30).default(1_048_576),
        /** Consecutive failures (refused, reset, timed out) that open a target's circuit. */
        breakerFailures: z.number().int().min(1).max(10_000).default(5),
        /** How long an open circuit stays open before one probe is let through; after it closes, mirrors are re-admitted over as long again. */
        breakerOpenMs: z.number().int().min(1).max(3_600_000).default(10_000),
        /** A mirror answered slower than this counts against the breaker as a failure would (a latency budget). */
        slowMs: z.number().int().min(1).max(600_000).default(2_500),
        /** Bytes of a response body a mirror reads; past it the mirror stops reading, and the response is recorded as truncated. */
        maxResponseBytes: z.number().int().min(0).max(1 << 30).default(1_048_576),
      })
      .strict()
      .prefault({}),
    record: z
      .object({
        /** Response headers kept in exchanges (and compared). */
        responseHeaders: z.array(z.string().min(1)).default(['content-type', 'location']),
        /** Request and response bodies kept in exchanges up to this size; bigger ones are marked truncated. */
        maxBodyBytes: z.number().int().min(0).max(1 << 30).default(262_144),
        redact: redactionSchema.prefault({}),
        /**
         * Routes (`POST /webhooks/*rest`, as in sampling) whose bodies that are neither JSON nor a
         * form are kept as they are; elsewhere such a body is recorded as its size and hash only.
         */
        rawBodies: z.array(z.string().min(1).max(500)).max(1000).default([]),
        /** Exchanges held while the sink is slow or down; beyond, they are dropped and counted. */
        maxBuffered: z.number().int().min(1).max(10_000_000).default(10_000),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        /** env SHADOWDIFF_ADMIN_LISTEN. Admin API and /metrics; off when unset. */
        listen: hostPort.optional(),
        /** env SHADOWDIFF_ADMIN_TOKEN. Required to change sampling; required at all off loopback. */
        token: secretSchema.optional(),
      })
      .strict()
      .prefault({}),
    handoff: z
      .object({
        /**
         * env SHADOWDIFF_HANDOFF_LISTEN. Hosts the pre-state handoff the services' SDKs share
         * (their handoff.store is this listener's http:// URL); off when unset. One proxy instance
         * only: several proxies share a Redis instead (docs/sdk.md).
         */
        listen: hostPort.optional(),
        /** env SHADOWDIFF_HANDOFF_TOKEN. Bearer token the SDKs send; required off loopback. */
        token: secretSchema.optional(),
        /** A request's handoff is forgotten this long after its last put. */
        ttlMs: z.number().int().min(100).max(3_600_000).default(30_000),
      })
      .strict()
      .prefault({}),
    /** On SIGTERM: how long in-flight requests may take before connections are cut. */
    drainMs: z.number().int().min(0).max(600_000).default(10_000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.mirror.maxResponseBytes < c.record.maxBodyBytes) {
      ctx.addIssue({ code: 'custom', path: ['mirror', 'maxResponseBytes'], message: `must be at least record.maxBodyBytes (${c.record.maxBodyBytes}): a response is recorded up to that size on every side, or the sides could not compare` });
    }
    if (c.client.requestTimeoutMs > 0 && c.client.headersTimeoutMs > c.client.requestTimeoutMs) {
      ctx.addIssue({ code: 'custom', path: ['client', 'headersTimeoutMs'], message: `must not exceed client.requestTimeoutMs (${c.client.requestTimeoutMs}): the headers are part of the request` });
    }
    const loopback = c.admin.listen === undefined || isLoopback(splitHostPort(c.admin.listen).host);
    if (!loopback && !c.admin.token) {
      ctx.addIssue({ code: 'custom', path: ['admin', 'token'], message: `is required when the admin API listens on ${c.admin.listen} (not loopback): set SHADOWDIFF_ADMIN_TOKEN` });
    }
    if (!c.signing && (c.cutover.percent > 0 || c.cutover.routes.some((r) => r.percent > 0))) {
      ctx.addIssue({ code: 'custom', path: ['signing', 'key'], message: "is required for a live share above 0 (cutover): legacy's SDK runs the mirror in dry-run only on the proxy's signature, and would otherwise write it a second time. Set SHADOWDIFF_SIGNING_KEY here and in both services" });
    }
    if (c.handoff.listen !== undefined && !isLoopback(splitHostPort(c.handoff.listen).host) && !c.handoff.token) {
      ctx.addIssue({ code: 'custom', path: ['handoff', 'token'], message: `is required when the handoff listens on ${c.handoff.listen} (not loopback): set SHADOWDIFF_HANDOFF_TOKEN, and give the SDKs the same token` });
    }
  });

export type ProxyConfig = z.infer<typeof proxyConfigSchema>;
export type ProxyConfigInput = z.input<typeof proxyConfigSchema>;

export const PROXY_ENV_KEYS = {
  SHADOWDIFF_LISTEN: 'listen',
  SHADOWDIFF_LEGACY: 'legacy',
  SHADOWDIFF_CANDIDATE: 'candidate',
  SHADOWDIFF_SECONDARY: 'secondary',
  SHADOWDIFF_RUN: 'run',
  SHADOWDIFF_SINK: 'sink',
  SHADOWDIFF_PREFIX: 'prefix',
  SHADOWDIFF_PARTITIONS: 'partitions',
  SHADOWDIFF_COMPRESSION: 'compression',
  SHADOWDIFF_FORMAT: 'format',
  SHADOWDIFF_ADMIN_LISTEN: 'admin.listen',
  SHADOWDIFF_ADMIN_TOKEN: 'admin.token',
  SHADOWDIFF_HANDOFF_LISTEN: 'handoff.listen',
  SHADOWDIFF_HANDOFF_TOKEN: 'handoff.token',
  SHADOWDIFF_REDACT_SECRET: 'record.redact.secret',
  SHADOWDIFF_SIGNING_KEY: 'signing.key',
  SHADOWDIFF_CUTOVER_STATE: 'cutover.stateFile',
} as const;

export function proxyConfigFromEnv(env: Record<string, string | undefined>): Record<string, unknown> {
  return envLayer(env, PROXY_ENV_KEYS, ['partitions', 'format']);
}

/** Validates layered settings (file < env < flags); errors name the key. */
export function resolveProxyConfig(...layers: Record<string, unknown>[]): ProxyConfig {
  return resolveWith(proxyConfigSchema, PROXY_ENV_KEYS, layers);
}

/** Splits HOST:PORT (brackets around an IPv6 host are removed). */
export function splitHostPort(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: host || '0.0.0.0', port: Number(hostPort.slice(i + 1)) };
}
