// Route patterns in settings: `POST /orders/:id/pay`, `/files/*rest` (express 5 syntax), with an
// optional method. Sampling rules and the raw-body routes use them; matched against the path
// without its query string.
import { match } from 'path-to-regexp';
import { ShadowdiffError } from './errors';

export interface RoutePattern {
  readonly route: string;
  readonly method?: string;
  matches(method: string, path: string): boolean;
}

/** `where` names the setting in the error a bad pattern gets (`sampling.routes.0.route`). */
export function compileRoutePattern(route: string, where: string): RoutePattern {
  const m = /^([A-Za-z]+)\s+(\/.*)$/.exec(route.trim());
  const pattern = m ? m[2]! : route.trim();
  if (!pattern.startsWith('/')) throw new ShadowdiffError('SHADOWDIFF_CONFIG', `${where}: "${route}" must be a path pattern such as "/orders/:id" or "POST /orders/*rest".`);
  let fn: ReturnType<typeof match>;
  try {
    fn = match(pattern, { decode: false });
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_CONFIG', `${where}: "${route}" is not a valid pattern (${(err as Error).message.split('\n')[0]}); use express 5 syntax: /orders/:id, /files/*rest.`);
  }
  const method = m ? m[1]!.toUpperCase() : undefined;
  return { route, ...(method ? { method } : {}), matches: (verb, path) => (method === undefined || method === verb) && fn(stripQuery(path)) !== false };
}

/** The first pattern that matches, if any. */
export function firstMatch(patterns: readonly RoutePattern[], method: string, path: string): RoutePattern | undefined {
  for (const p of patterns) if (p.matches(method, path)) return p;
  return undefined;
}

export function stripQuery(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

/** `/api/articles/` (a router's `/` under its mount path) and `/api/articles` are one route, as express routes them. */
export function withoutTrailingSlash(route: string): string {
  return route.length > 1 ? route.replace(/\/+$/, '') || '/' : route;
}
