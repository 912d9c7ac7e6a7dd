// The handoff adapter a URL names: redis(s):// (shared) or http(s):// (a hosted listener). The
// CLI and the SDK both pick it here; the in-process adapter is passed as an object instead.
import { redactUrl } from '../../core/net';
import { ShadowdiffError } from '../../core/errors';
import type { Handoff } from './handoff';
import { HttpHandoff } from './http';
import { RedisHandoff } from './redis';

export interface HandoffUrlOptions {
  /** Bearer token of a hosted listener. */
  token?: string | undefined;
  /** Redis key prefix. */
  prefix?: string;
  ttlMs?: number;
  /** A call not answered in this time fails. */
  timeoutMs?: number;
  /** Names the setting in error messages (`handoff.store`, `--handoff`). */
  setting?: string;
}

export function handoffFromUrl(url: string, o: HandoffUrlOptions = {}): Handoff {
  const setting = o.setting ?? 'handoff';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ShadowdiffError('SHADOWDIFF_CONFIG', `${setting}: "${url}" is not a URL: use redis://host:6379 or http://proxy-host:7081 (a --handoff-listen address).`);
  }
  const timeoutMs = o.timeoutMs ?? 1_000;
  if (parsed.protocol === 'redis:' || parsed.protocol === 'rediss:') return new RedisHandoff({ url, commandTimeoutMs: timeoutMs, ...(o.prefix ? { prefix: o.prefix } : {}), ...(o.ttlMs ? { ttlMs: o.ttlMs } : {}) });
  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return new HttpHandoff({ url, token: o.token, timeoutMs });
  throw new ShadowdiffError('SHADOWDIFF_CONFIG', `${setting}: "${redactUrl(url)}" has an unsupported scheme "${parsed.protocol}": use redis(s):// or http(s)://.`);
}
