// Signed shadow headers (cutover, docs/cutover.md). A service whose SDK runs live may be told by
// a request's headers to run it in dry-run instead — the proxy does so when it mirrors a request
// the candidate serves live. Only the proxy may say so: it signs the shadow headers with a key
// the SDKs share, and an SDK lowers a request to dry-run only when the signature over its id,
// run, side, mode and time is good and fresh. A client reaching the service directly cannot
// switch its writes off. The scheme is Stripe's webhook signature's: `t=<ms>,v1=<HMAC-SHA256>`.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { secretSchema } from './settings';

export const SIGNATURE_HEADER = 'x-shadow-signature';

export interface SignedFields {
  shadowId: string;
  runId: string;
  side: string;
  mode: string;
}

/** The SDK's `signing` option and the proxy's: the key (and the previous keys while rotating). */
export const signingSchema = z
  .object({
    /** env SHADOWDIFF_SIGNING_KEY. The proxy signs with it; the SDKs accept it. */
    key: secretSchema,
    /** Keys still accepted (not signed with) while the key is rotated. */
    previousKeys: z.array(secretSchema).max(10).default([]),
    /** A signature older than this (or this far in the future) is refused: a captured header cannot be reused later. */
    maxAgeMs: z.number().int().min(1_000).max(3_600_000).default(60_000),
  })
  .strict();

export type SigningConfig = z.output<typeof signingSchema>;

function mac(key: string, f: SignedFields, t: number): Buffer {
  // Lengths first: no two field lists share a signed text.
  const text = `v1\n${t}\n${f.shadowId.length}:${f.shadowId}\n${f.runId.length}:${f.runId}\n${f.side.length}:${f.side}\n${f.mode.length}:${f.mode}`;
  return createHmac('sha256', key).update(text).digest();
}

/** The signature header's value for these fields, made now. */
export function signShadow(key: string, f: SignedFields, now = Date.now()): string {
  return `t=${now},v1=${mac(key, f, now).toString('base64url')}`;
}

export type Verdict = 'good' | 'unsigned' | 'bad' | 'stale';

/** Whether `value` signs these fields with one of the keys, within maxAgeMs of now. */
export function verifyShadow(config: Pick<SigningConfig, 'key' | 'previousKeys' | 'maxAgeMs'>, value: string | undefined, f: SignedFields, now = Date.now()): Verdict {
  if (value === undefined || value === '') return 'unsigned';
  const m = /^t=(\d{1,16}),v1=([\w-]{43})$/.exec(value);
  if (!m) return 'bad';
  const t = Number(m[1]);
  const given = Buffer.from(m[2]!, 'base64url');
  if (given.length !== 32) return 'bad';
  let good = false;
  // Every key is tried (no early exit): the time taken does not say which one matched.
  for (const key of [config.key, ...config.previousKeys]) if (timingSafeEqual(mac(key, f, t), given)) good = true;
  if (!good) return 'bad';
  return Math.abs(now - t) > config.maxAgeMs ? 'stale' : 'good';
}
