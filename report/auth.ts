// Who may use the report: off loopback a token is required — a bearer header for the API, or
// a cookie set once from `/?token=…` for a browser (compared in constant time, never logged) —
// and forms are taken only from the report's own pages (CSRF).
import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { isAllowedHost } from '../core/net';
import { query } from './params';

/** Bearer header (API) or cookie (browser, set once from `?token=`); nothing when no token is configured. */
export function auth(token: string | undefined) {
  const expected = token === undefined ? undefined : Buffer.from(token);
  const same = (given: string | undefined) => {
    if (given === undefined || !expected) return false;
    const b = Buffer.from(given);
    return b.length === expected.length && timingSafeEqual(b, expected);
  };
  return (req: Request, res: Response, next: NextFunction) => {
    if (!expected) return next();
    const bearer = /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1];
    const cookie = /(?:^|;\s*)sd_token=([^;]+)/.exec(req.get('cookie') ?? '')?.[1];
    if (same(bearer) || same(cookie === undefined ? undefined : decodeCookie(cookie))) return next();
    const given = query(req, 'token');
    if (req.method === 'GET' && same(given)) {
      res.cookie('sd_token', given!, { httpOnly: true, sameSite: 'strict', path: '/' });
      const url = new URL(req.originalUrl, 'http://x');
      url.searchParams.delete('token');
      return void res.redirect(303, url.pathname + url.search);
    }
    res.status(401).set('www-authenticate', 'Bearer');
    if (req.path.startsWith('/api/')) return void res.json({ error: 'missing or wrong token: send Authorization: Bearer <token>' });
    res.type('text/plain').send('401: open this page with ?token=<the report token> once, or send Authorization: Bearer <token>.');
  };
}

function decodeCookie(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined; // a mangled cookie is no token
  }
}

/**
 * Without a token the report listens on loopback only, and answers only requests that name
 * loopback (or `names`) as their Host: DNS rebinding gives another site's page our address
 * but not our name. With a token, the token is the guard.
 */
export function hostGuard(token: string | undefined, names: readonly string[] = []) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (token !== undefined || isAllowedHost(req.get('host'), names)) return next();
    res.status(403).type('text/plain').send('403: this report answers on its loopback address only (it has no token). Open it at http://127.0.0.1:<port>, or give it SHADOWDIFF_REPORT_TOKEN.');
  };
}

/**
 * A state-changing API call from a browser must come from our own pages; a script (curl, CI)
 * sends neither Origin nor Sec-Fetch-Site and passes, authorised by its token like any call.
 */
export function notCrossSite(req: Request, res: Response, next: NextFunction): void {
  const site = req.get('sec-fetch-site');
  const origin = req.get('origin');
  if (site === undefined && origin === undefined) return next();
  if (site === 'same-origin') return next();
  if (site === undefined && origin !== undefined && origin !== 'null') {
    try {
      if (new URL(origin).host === req.get('host')) return next();
    } catch {
      // not a URL: refused below
    }
  }
  res.status(403).json({ error: 'this call can only come from the report itself or from a script, not from another site (CSRF)' });
}

/** Form posts must come from our own pages: a page elsewhere cannot post here (CSRF). */
export function sameOrigin(req: Request, res: Response, next: NextFunction): void {
  if (req.get('sec-fetch-site') === 'same-origin') return next();
  const origin = req.get('origin');
  if (origin !== undefined && origin !== 'null') {
    try {
      if (new URL(origin).host === req.get('host')) return next();
    } catch {
      // not a URL: refused below
    }
  }
  res.status(403).type('text/plain').send('403: this form can only be sent from the report itself.');
}
