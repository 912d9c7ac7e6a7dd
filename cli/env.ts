// The environment variables single commands read besides their config (core/config.ts,
// capture/proxy/config.ts): secrets that stay out of files and flags. Read through one schema
// so a bad value is a SHADOWDIFF_CONFIG error naming its variable.
import { z } from 'zod';
import { envLayer, resolveWith } from '../core/config';

const commandEnvSchema = z
  .object({
    /** env SHADOWDIFF_REPORT_TOKEN: `serve` requires it off loopback. */
    reportToken: z.string().min(1).optional(),
    /** env SHADOWDIFF_ADMIN_TOKEN: `sampling` sends it to the proxy's admin API. */
    adminToken: z.string().min(1).optional(),
    /** env SHADOWDIFF_HANDOFF_TOKEN: `replay`'s hosted or shared handoff. */
    handoffToken: z.string().min(1).optional(),
    /** env SHADOWDIFF_REDACT_SECRET: `replay --redact`'s HMAC secret, when the file has none. */
    redactSecret: z.string().min(1).optional(),
    /** env SHADOWDIFF_WORKER_METRICS: `worker`'s metrics listener, when --metrics is not given. */
    workerMetrics: z.string().min(1).optional(),
    /** env SHADOWDIFF_AMQP_MANAGEMENT: `consumers discover`'s RabbitMQ management API, when --amqp-management is not given. */
    amqpManagement: z.string().min(1).optional(),
  })
  .strict();

export type CommandEnv = z.output<typeof commandEnvSchema>;

/** Which environment variable sets which of the commands' own settings. */
export const COMMAND_ENV_KEYS = {
  SHADOWDIFF_REPORT_TOKEN: 'reportToken',
  SHADOWDIFF_ADMIN_TOKEN: 'adminToken',
  SHADOWDIFF_HANDOFF_TOKEN: 'handoffToken',
  SHADOWDIFF_REDACT_SECRET: 'redactSecret',
  SHADOWDIFF_WORKER_METRICS: 'workerMetrics',
  SHADOWDIFF_AMQP_MANAGEMENT: 'amqpManagement',
} as const;

export function commandEnv(env: Record<string, string | undefined>): CommandEnv {
  return resolveWith(commandEnvSchema, COMMAND_ENV_KEYS, [envLayer(env, COMMAND_ENV_KEYS)]);
}
