// The SDK's options, validated once by createShadow. Types come from the schema.
import { z } from 'zod';
import { envLayer } from '../../core/config';
import { MODES } from '../../core/headers';
import { FORMAT_VERSION, formatVersionSchema, SIDES } from '../../core/effect';
import type { Logger } from '../../core/logger';
import { redactionSchema } from '../../core/redaction';
import { compressionSchema, partitionsSchema, prefixSchema } from '../../core/settings';
import { signingSchema } from '../../core/signing';
import type { Bus } from '../../runtime/bus/bus';
import type { Handoff } from '../../runtime/handoff/handoff';
import type { RecordSink } from './transport';

export const IMAGE_MODES = ['full', 'after', 'none'] as const;
/**
 * What a db effect carries. `full`: one effect per changed document with `before` and `after`
 * (the default; updates compare as deltas). `after`: the same without `before`. `none`: one
 * effect per write operation with its filter and update, no extra reads in live mode.
 */
export type ImageMode = (typeof IMAGE_MODES)[number];

const isHandoff = (v: unknown): v is Handoff => typeof v === 'object' && v !== null && typeof (v as Handoff).put === 'function' && typeof (v as Handoff).get === 'function';

const isSink = (v: unknown): v is RecordSink | Pick<Bus, 'publish'> =>
  typeof v === 'object' && v !== null && (typeof (v as RecordSink).write === 'function' || typeof (v as Bus).publish === 'function');

export const sdkOptionsSchema = z
  .object({
    /** Which side this service is. Decides the mode; the request headers never can. */
    side: z.enum(SIDES),
    /**
     * Default: `live` for legacy, `dry-run` for candidate and secondary. A candidate that serves
     * live traffic in a cutover runs `live`, with `signing` set (docs/cutover.md).
     */
    mode: z.enum(MODES).optional(),
    /**
     * The key the proxy signs shadow headers with. A live SDK with it runs a request in dry-run
     * when the request's signed headers ask for it (the proxy's mirror during a cutover); without
     * it, or with a bad or stale signature, the request runs live and is counted.
     */
    signing: signingSchema.optional(),
    /** env SHADOWDIFF_SINK: amqp(s)://… (RabbitMQ), http(s)://… (a collector), or an in-process sink. */
    sink: z.union([z.string().min(1), z.custom<RecordSink | Pick<Bus, 'publish'>>(isSink, 'must be a URL or an object with write(records) or publish(records)')]),
    /** Exchange and queue names (RabbitMQ sink); must match the workers'. */
    prefix: prefixSchema,
    partitions: partitionsSchema,
    /** Bytes per RabbitMQ message when records are packed per partition (0: one record a message). */
    packBytes: z.number().int().min(0).max(4_000_000).default(65_536),
    /**
     * env SHADOWDIFF_FORMAT. The effect format written: 2 (default) ships an update's `after` and
     * its reverse delta instead of two full images; 1 for workers older than format 2 (docs/effect-format.md).
     */
    format: formatVersionSchema.default(FORMAT_VERSION),
    /** env SHADOWDIFF_COMPRESSION. How RabbitMQ messages are compressed: br (default), deflate or none. */
    compression: compressionSchema,
    buffer: z
      .object({
        maxRecords: z.number().int().min(1).default(10_000),
        batchSize: z.number().int().min(1).max(10_000).default(500),
        maxBackoffMs: z.number().int().min(10).default(5_000),
        /** A partial batch waits this long for more records before it is sent. */
        lingerMs: z.number().int().min(0).max(1_000).default(5),
      })
      .strict()
      .prefault({}),
    redact: redactionSchema.optional(),
    mongo: z
      .object({
        images: z.enum(IMAGE_MODES).default('full'),
        /** Per collection (`db.collection` or `collection`): overrides `images`. */
        collections: z.record(z.string(), z.enum(IMAGE_MODES)).default({}),
      })
      .strict()
      .prefault({}),
    response: z
      .object({
        /** Record the HTTP response a side returned as a `response` effect. */
        capture: z.boolean().default(false),
        /** Response headers recorded with it (the rest vary by nature: date, etag, …). */
        headers: z.array(z.string()).default(['content-type', 'location']),
        maxBodyBytes: z.number().int().min(0).default(1_048_576),
        /**
         * Routes (`GET /export/:id`, as the proxy's `record.rawBodies`) whose response bodies that are
         * neither JSON nor a form are kept as they are; elsewhere as their size and hash only.
         */
        rawBodies: z.array(z.string().min(1).max(500)).max(1000).default([]),
      })
      .strict()
      .prefault({}),
    /**
     * The pre-state handoff (docs/sdk.md, "The pre-state handoff"). Both sides need the same store:
     * the live SDK hands off the before-images of what a shadowed request writes, and waits for
     * the acknowledgement at most `waitMs` before it writes; the dry-run SDK rewinds them.
     */
    handoff: z
      .object({
        /** env SHADOWDIFF_HANDOFF: redis(s)://… (shared), http(s)://… (a proxy's or replay's --handoff-listen), or an in-process Handoff. */
        store: z.union([z.string().min(1), z.custom<Handoff>(isHandoff, 'must be a URL or an object with put(run, shadowId, put) and get(run, shadowId)')]),
        /** env SHADOWDIFF_HANDOFF_TOKEN: the bearer token of a hosted (http) handoff. */
        token: z.string().min(1).optional(),
        /** Live: the longest a write waits for the handoff's acknowledgement; then it goes ahead and the request's pre-state is unknown. */
        waitMs: z.number().min(0.5).max(1_000).default(10),
        /** Dry-run: the longest a handoff read may take (the candidate's own time, never the live path's). */
        lookupTimeoutMs: z.number().int().min(1).max(60_000).default(1_000),
        /** Dry-run: how long a read waits for a live upsert announced as pending to report the id it made. */
        pendingWaitMs: z.number().int().min(0).max(60_000).default(1_000),
        /** A live write touching more documents than this is not handed off (its request's pre-state is unknown). */
        maxImages: z.number().int().min(1).max(100_000).default(1_000),
        /** Consecutive handoff failures that open the breaker; while open, no handoff is tried. */
        breakerFailures: z.number().int().min(1).max(10_000).default(5),
        breakerOpenMs: z.number().int().min(1).max(3_600_000).default(1_000),
        /** Redis key prefix. */
        prefix: z.string().min(1).max(100).regex(/^[\w.:-]+$/).default('shadowdiff'),
        /** A request's handoff expires this long after its last put (Redis; the hosted store sets its own). */
        ttlMs: z.number().int().min(100).max(3_600_000).default(30_000),
      })
      .strict()
      .optional(),
    /** Message headers recorded in a message effect's meta. */
    messageHeaders: z.array(z.string()).default([]),
    /** Outgoing HTTP request headers recorded in an http effect. */
    callHeaders: z.array(z.string()).default(['content-type']),
    logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null && typeof (v as Logger).warn === 'function', 'must be a pino logger').optional(),
  })
  .strict();

export type ShadowOptions = z.input<typeof sdkOptionsSchema>;
export type ResolvedOptions = z.infer<typeof sdkOptionsSchema>;

/** Which environment variable sets which option. */
export const SDK_ENV_KEYS = {
  SHADOWDIFF_SIDE: 'side',
  SHADOWDIFF_MODE: 'mode',
  SHADOWDIFF_SINK: 'sink',
  SHADOWDIFF_PREFIX: 'prefix',
  SHADOWDIFF_PARTITIONS: 'partitions',
  SHADOWDIFF_COMPRESSION: 'compression',
  SHADOWDIFF_FORMAT: 'format',
  SHADOWDIFF_REDACT_SECRET: 'redact.secret',
  SHADOWDIFF_HANDOFF: 'handoff.store',
  SHADOWDIFF_HANDOFF_TOKEN: 'handoff.token',
  SHADOWDIFF_HANDOFF_WAIT_MS: 'handoff.waitMs',
  SHADOWDIFF_SIGNING_KEY: 'signing.key',
} as const;

/** Options from the environment (SDK_ENV_KEYS), to merge under the code's own; createShadow validates them. */
export function sdkOptionsFromEnv(env: Record<string, string | undefined>): Partial<ShadowOptions> {
  const out = envLayer(env, SDK_ENV_KEYS, ['partitions', 'format', 'handoff.waitMs']);
  // The handoff's token and wait mean nothing without its store.
  if (out.handoff && (out.handoff as { store?: string }).store === undefined) delete out.handoff;
  return out as Partial<ShadowOptions>;
}
