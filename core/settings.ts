// Settings more than one part shares, each with its one default: the topology's prefix and
// partition count (every publisher and worker of a deployment must agree on both), the
// broker's delivery limit, and retention. The pipeline's, the proxy's and the SDK's schemas
// take these fragments, and the adapters take their defaults from here.
import { z } from 'zod';

export const DEFAULT_PREFIX = 'shadowdiff';
export const DEFAULT_PARTITIONS = 16;
export const DEFAULT_DELIVERY_LIMIT = 20;
export const DEFAULT_RETENTION = Object.freeze({ rawDays: 7, resultDays: 90 });

/** Names of the exchange and queues. */
export const prefixSchema = z.string().min(1).max(100).regex(/^[\w.-]+$/, 'letters, digits, "_", "-" and "." only').default(DEFAULT_PREFIX);

export const partitionsSchema = z.number().int().min(1).max(1024).default(DEFAULT_PARTITIONS);

/**
 * What a publisher compresses its RabbitMQ messages with (content-encoding): brotli by
 * default, from bench/wire's and bench/pipeline's figures (docs/pipeline.md, "On the wire").
 * Workers read all three whatever their own setting; they must be of this version or later.
 */
export const COMPRESSIONS = ['br', 'deflate', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];
export const DEFAULT_COMPRESSION: Compression = 'br';
export const compressionSchema = z.enum(COMPRESSIONS).default(DEFAULT_COMPRESSION);

/** Deliveries after which the broker dead-letters a record (quorum queues). */
export const deliveryLimitSchema = z.number().int().min(2).max(1000).default(DEFAULT_DELIVERY_LIMIT);

/** How long raw records and results are kept, in days. */
export const retentionSchema = z
  .object({
    /** Raw effects and exchanges, days. */
    rawDays: z.number().positive().default(DEFAULT_RETENTION.rawDays),
    /** Comparisons, days (rollups, runs and rules are kept). */
    resultDays: z.number().positive().default(DEFAULT_RETENTION.resultDays),
  })
  .strict()
  .prefault({});

export type Retention = z.output<typeof retentionSchema>;

/** A token or secret: 16 characters at least, and not blank (16 spaces guard nothing). */
export const secretSchema = z
  .string()
  .min(16, 'must be at least 16 characters')
  .refine((s) => s.trim().length >= 16, 'must hold at least 16 characters besides spaces');
