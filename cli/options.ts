// Flag values that are numbers: parsed once, with an error that names the flag and the range.
import type { RouteMinimum } from '../compare/readiness';
import { ShadowdiffError } from '../core/errors';

export function numberFlag(flag: string, range: { min?: number; max?: number; integer?: boolean } = {}): (v: string) => number {
  const { min = -Infinity, max = Infinity, integer = false } = range;
  const what = `${integer ? 'a whole number' : 'a number'}${min > -Infinity ? ` from ${min}` : ''}${max < Infinity ? ` to ${max}` : ''}`;
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--${flag} must be ${what}, got "${v}".`);
    return n;
  };
}

/** A percentage, 0-100; a trailing % is allowed. */
export function percentFlag(flag: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v.replace(/%$/, ''));
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--${flag} must be a percentage 0-100, got "${v}".`);
    return n;
  };
}

/**
 * A `HOST:PORT` flag value (an IPv6 host in brackets). An empty host becomes `emptyHost`, or is
 * refused when there is none.
 */
export function hostPort(flag: string, value: string, example: string, emptyHost?: string): { host: string; port: number } {
  const m = (emptyHost === undefined ? /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/ : /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/).exec(value);
  if (!m) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--${flag} "${value}" must be HOST:PORT, e.g. ${example}.`);
  return { host: m[1]!.replace(/^\[|\]$/g, '') || emptyHost!, port: Number(m[2]) };
}

/**
 * `--route-min-requests "GET *=5"` (repeatable): a route class, as a glob over `METHOD /route`,
 * and the complete comparisons its routes need. The first that matches a route decides.
 */
export function routeMinimumFlag(value: string, previous: RouteMinimum[] = []): RouteMinimum[] {
  const at = value.lastIndexOf('=');
  const route = value.slice(0, at).trim();
  const min = Number(value.slice(at + 1));
  if (at <= 0 || !route || value.slice(at + 1).trim() === '' || !Number.isInteger(min) || min < 0) {
    throw new ShadowdiffError('SHADOWDIFF_USAGE', `--route-min-requests "${value}" must be ROUTE=N: a route or a glob over "METHOD /route" and a whole number ≥ 0, e.g. --route-min-requests "GET *=5".`);
  }
  return [...previous, { route, min }];
}
