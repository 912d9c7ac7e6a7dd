// The pipeline's one config object: validated once at start, defaults in the schema, each
// environment variable named beside the key it sets. Commands merge file < env < flags and
// pass the result down; no other module reads process.env.
import { z } from 'zod';
import { ShadowdiffError } from './errors';
import { deliveryLimitSchema, partitionsSchema, prefixSchema, retentionSchema } from './settings';
import { READABLE } from './issues';

const url = (schemes: string[]) =>
  z.string().refine((s) => {
    try {
      return schemes.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}`);

export const pipelineConfigSchema = z
  .object({
    /** env AMQP_URL. Unset: the embedded in-process bus. */
    amqpUrl: url(['amqp:', 'amqps:']).optional(),
    /** env MONGODB_URL. Unset: the embedded in-memory store. */
    mongodbUrl: url(['mongodb:', 'mongodb+srv:']).optional(),
    /** env SHADOWDIFF_DB. */
    database: z.string().min(1).max(60).regex(/^[^/\\. "$]+$/, 'a MongoDB database name (no / \\ . " $ or spaces)').default('shadowdiff'),
    /** env SHADOWDIFF_PREFIX: names of the exchange and queues. */
    prefix: prefixSchema,
    /** env SHADOWDIFF_PARTITIONS. Every publisher and worker of a deployment must agree. */
    partitions: partitionsSchema,
    prefetch: z.number().int().min(1).max(10_000).default(250),
    queueType: z.enum(['auto', 'quorum', 'classic']).default('auto'),
    deliveryLimit: deliveryLimitSchema,
    settleMs: z.number().int().min(0).max(60_000).default(100),
    timeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
    keepEffects: z.enum(['all', 'non-match', 'none']).default('non-match'),
    /** Every this long a store write goes unacknowledged counts as a store error. */
    storeDeadlineMs: z.number().int().min(100).max(600_000).default(10_000),
    retention: retentionSchema,
    alerts: z
      .object({
        windowSeconds: z.number().positive().default(60),
        threshold: z.number().min(0).max(1).default(0.05),
        minRequests: z.number().int().min(1).default(20),
        cooldownSeconds: z.number().min(0).default(300),
        /** Mismatches in a row on a route that alert at once, however few requests it has had (0: never). */
        consecutive: z.number().int().min(0).default(5),
        /** Targets (globs) where one finding of criticalSeverity or worse alerts at once. */
        criticalTargets: z.array(z.string().min(1).max(500)).max(1000).default([]),
        criticalSeverity: z.enum(['high', 'medium', 'low']).default('high'),
        /** env SHADOWDIFF_ALERT_WEBHOOK: alerts are POSTed here as JSON. */
        webhook: url(['http:', 'https:']).optional(),
      })
      .strict()
      .default({ windowSeconds: 60, threshold: 0.05, minRequests: 20, cooldownSeconds: 300, consecutive: 5, criticalTargets: [], criticalSeverity: 'high' }),
  })
  .strict();

export type PipelineConfig = z.infer<typeof pipelineConfigSchema>;
export type PipelineConfigInput = z.input<typeof pipelineConfigSchema>;

/** Which environment variable sets which key. */
export const ENV_KEYS = {
  AMQP_URL: 'amqpUrl',
  MONGODB_URL: 'mongodbUrl',
  SHADOWDIFF_DB: 'database',
  SHADOWDIFF_PREFIX: 'prefix',
  SHADOWDIFF_PARTITIONS: 'partitions',
  SHADOWDIFF_ALERT_WEBHOOK: 'alerts.webhook',
} as const;

/** Values from the environment, as config input. */
export function configFromEnv(env: Record<string, string | undefined>): Record<string, unknown> {
  return envLayer(env, ENV_KEYS, ['partitions']);
}

/**
 * A config layer from environment variables: `keys` maps a variable to a dotted key
 * (`alerts.webhook` → {alerts: {webhook}}); keys in `numeric` become numbers (validation then
 * says if they are not). Unset and empty variables are left out.
 */
export function envLayer(env: Record<string, string | undefined>, keys: Record<string, string>, numeric: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(keys)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const path = key.split('.');
    let at = out;
    for (const part of path.slice(0, -1)) at = (at[part] ??= {}) as Record<string, unknown>;
    at[path.at(-1)!] = numeric.includes(key) ? Number(value) : value;
  }
  return out;
}

/** Layers (file < env < flags) merged, then validated. */
export function resolveConfig(...layers: Record<string, unknown>[]): PipelineConfig {
  return resolveWith(pipelineConfigSchema, ENV_KEYS, layers);
}

/**
 * Merges layers (objects key by key at any depth, anything else replaced; later wins) and
 * validates them with `schema`, and freezes the result; the first problem becomes
 * SHADOWDIFF_CONFIG naming the key and the environment variable that sets it.
 */
export function resolveWith<S extends z.ZodType>(schema: S, envKeys: Record<string, string>, layers: Record<string, unknown>[]): z.infer<S> {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) mergeInto(merged, layer);
  const result = schema.safeParse(merged, READABLE);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.');
    const env = Object.entries(envKeys).find(([, k]) => k === key)?.[0];
    throw new ShadowdiffError('SHADOWDIFF_CONFIG', `setting "${key || '(config)'}"${env ? ` (env ${env})` : ''}: ${issue.message}.`, { key });
  }
  return deepFreeze(result.data);
}

/** A parsed config is read, never changed: a part that needs another value makes a copy. */
function deepFreeze<T>(value: T): T {
  if (isPlain(value) || Array.isArray(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function mergeInto(into: Record<string, unknown>, layer: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(layer)) {
    if (v === undefined || k === '__proto__') continue;
    const prev = into[k];
    if (isPlain(prev) && isPlain(v)) {
      const copy = { ...prev };
      mergeInto(copy, v);
      into[k] = copy;
    } else into[k] = v;
  }
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
