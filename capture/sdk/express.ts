// The express middleware: a request with the shadow headers runs in a shadow context; when its
// response finishes, the side's end marker (and, if configured, a `response` effect) is sent.
// A request without them costs one header lookup.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { HEADERS } from '../../core/headers';
import { BodyPrefix, bodyValue } from '../../core/body';
import { firstMatch, withoutTrailingSlash } from '../../core/route-pattern';
import { storage } from './context';
import type { RequestInfo, Shadow } from './shadow';

export function shadowMiddleware(shadow: Shadow): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.headers[HEADERS.shadowId] === undefined) return next();
    const ctx = shadow.begin(req.headers);
    if (!ctx) return next();
    let body: BodyPrefix | undefined;
    try {
      if (shadow.options.response.capture) body = tee(res, shadow.options.response.maxBodyBytes);
    } catch (err) {
      shadow.internalError('response-capture', err);
    }
    let route: string | undefined;
    try {
      route = watchRoute(req, (r) => (route = r));
    } catch (err) {
      shadow.internalError('route', err);
    }
    let done = false;
    const finish = (aborted: boolean) => {
      if (done) return;
      done = true;
      try {
        const request: RequestInfo = { method: req.method, path: (req.originalUrl ?? req.url).split('?')[0]! };
        if (route) request.route = route;
        if (body) {
          shadow.record(ctx, shadow.nextSeq(ctx), {
            kind: 'response',
            // As the exchange's response effect is named: an --accept entry or a rule for `response` covers both.
            target: 'response',
            op: 'respond',
            payload: responsePayload(shadow, req, res, body),
          });
        }
        shadow.end(ctx, request, aborted ? { status: res.statusCode, error: 'the client closed the connection before the response finished' } : { status: res.statusCode });
      } catch (err) {
        shadow.internalError('finish', err);
      }
    };
    res.once('finish', () => finish(false));
    res.once('close', () => finish(!res.writableFinished));
    storage.run(ctx, next);
  };
}

/**
 * The express route template (`/orders/:id/pay`) with the mount path of nested routers, taken
 * when express matches the route: by the time the response finishes (an error thrown out of a
 * router, say) `req.baseUrl` may already be reset. An accessor on this request object only.
 */
function watchRoute(req: Request, found: (route: string) => void): undefined {
  let value: unknown = (req as { route?: unknown }).route;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (v: unknown) => {
      value = v;
      const path = (v as { path?: unknown } | undefined)?.path;
      // A router's '/' under its mount path: '/api/articles', not '/api/articles/'.
      if (typeof path === 'string') found(withoutTrailingSlash(`${req.baseUrl ?? ''}${path}`));
    },
  });
  return undefined;
}

/** Copies what the app writes (up to `max` bytes) without changing a byte of it. */
function tee(res: Response, max: number): BodyPrefix {
  // Over the cap: its first `max` bytes stay, for the hash the effect records.
  const kept = new BodyPrefix(max);
  const keep = (chunk: unknown, encoding: unknown) => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function' || kept.truncated) return;
    kept.add(Buffer.isBuffer(chunk) ? chunk : typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : Buffer.from(chunk as Uint8Array));
  };
  const write = res.write;
  const end = res.end;
  // Instance properties, not the prototype: only this response is observed.
  res.write = function (this: Response, chunk: unknown, ...rest: unknown[]) {
    keep(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as Response['write'];
  res.end = function (this: Response, chunk?: unknown, ...rest: unknown[]) {
    keep(chunk, rest[0]);
    return (end as (...a: unknown[]) => Response).call(this, chunk, ...rest);
  } as Response['end'];
  return kept;
}

function responsePayload(shadow: Shadow, req: Request, res: Response, kept: BodyPrefix): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const name of shadow.options.response.headers) {
    const v = res.getHeader(name);
    if (v !== undefined) headers[name.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  const raw = shadow.rawBodies.length > 0 && firstMatch(shadow.rawBodies, req.method, req.originalUrl ?? req.url) !== undefined;
  const body = bodyValue(kept.chunks, String(res.getHeader('content-type') ?? ''), { truncatedOver: kept.truncated ? shadow.options.response.maxBodyBytes : undefined, raw, digest: (b) => shadow.redactor.digest(b) });
  return { status: res.statusCode, headers, body };
}
