// The report's query parameters, read and checked in one place: a wrong one is a
// SHADOWDIFF_USAGE error (400) naming what was wrong.
import type { Request } from 'express';
import { type Comparison, SEVERITY_RANK, VERDICTS } from '../compare/engine';
import { ShadowdiffError } from '../core/errors';
import type { ComparisonQuery } from '../runtime/store/store';

const PAGE_MAX = 500;
export { SEVERITY_RANK };

export function param(req: Request, name: string): string {
  return String(req.params[name] ?? '');
}

export function query(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function pick(req: Request, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = query(req, n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}

/** `since` and `until`: ISO 8601 instants (a date alone is its midnight, UTC). */
export function times(req: Request): { since?: string; until?: string } {
  const out: { since?: string; until?: string } = {};
  for (const name of ['since', 'until'] as const) {
    const text = query(req, name)?.trim();
    if (text === undefined || text === '') continue;
    const ms = Date.parse(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text) ? `${text}Z` : text);
    if (Number.isNaN(ms)) throw new ShadowdiffError('SHADOWDIFF_USAGE', `${name} must be a date and time, e.g. 2026-11-25T09:00:00Z or 2026-11-25 (not ${JSON.stringify(text.slice(0, 40))}).`);
    out[name] = new Date(ms).toISOString();
  }
  if (out.since && out.until && out.since >= out.until) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'since must be before until.');
  return out;
}

export interface DifferenceFilter {
  route?: string;
  /** Parts of the target and the field name (case-insensitive). */
  target?: string;
  field?: string;
  severity?: string;
  kind?: string;
  since?: string;
  until?: string;
}

export function differenceFilter(req: Request): DifferenceFilter {
  const severity = query(req, 'severity');
  if (severity !== undefined && !(severity in SEVERITY_RANK)) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'severity must be critical, high, medium or low.');
  return { ...pick(req, ['route', 'target', 'field', 'kind']), ...(severity ? { severity } : {}), ...times(req) };
}

/** A page of comparisons asked for: `limit` of them (one more is read to know there is a next page). */
export function comparisonQuery(req: Request, runId: string, defaultLimit: number): { query: ComparisonQuery; limit: number } {
  const limitText = query(req, 'limit');
  const limit = limitText === undefined ? defaultLimit : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_MAX) throw new ShadowdiffError('SHADOWDIFF_USAGE', `limit must be a whole number from 1 to ${PAGE_MAX}.`);
  const verdict = query(req, 'verdict');
  if (verdict !== undefined && !(VERDICTS as readonly string[]).includes(verdict)) throw new ShadowdiffError('SHADOWDIFF_USAGE', `verdict must be ${VERDICTS.join(', ')}.`);
  const value = query(req, 'value');
  if (value !== undefined && value.length > 200) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'value: at most 200 characters.');
  const q: ComparisonQuery = { runId, limit: limit + 1, ...pick(req, ['route', 'target', 'field', 'after']), ...times(req), ...(value !== undefined ? { value: value.trim() } : {}), ...(verdict ? { verdict: verdict as Comparison['verdict'] } : {}) };
  return { query: q, limit };
}
