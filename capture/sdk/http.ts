// Outgoing HTTP calls (global fetch, which is undici) as `http` effects. Live: the call is made
// with the shadow headers added, so a downstream service with the SDK attributes its effects to
// the same shadow id. Dry-run: the call is recorded and never made.
import { bodyValue } from '../../core/body';
import { currentContext, propagationHeaders } from './context';
import { runEffect } from './effect';
import type { Shadow } from './shadow';

export interface CallOptions {
  /** The target's path template (`/v1/payments/:id`), so calls to different ids pair up. Default: the URL's path. */
  route?: string;
  /** Dry-run: what the call returns instead of being made. Default: an empty 204. */
  dryRun?: () => Response | Promise<Response>;
}

export type ShadowFetch = (input: string | URL | Request, init?: RequestInit, options?: CallOptions) => Promise<Response>;

export function shadowFetch(shadow: Shadow): ShadowFetch {
  return async (input, init, options) => {
    const ctx = currentContext();
    if (!ctx) return fetch(input, init);
    let target = 'CALL';
    let payload: Record<string, unknown> = {};
    let headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    try {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
      target = `${method} ${url.host}${options?.route ?? url.pathname}`;
      const recorded: Record<string, string> = {};
      for (const name of shadow.options.callHeaders) {
        const v = headers.get(name);
        if (v !== null) recorded[name.toLowerCase()] = v;
      }
      payload = { method, url: `${url.origin}${url.pathname}${url.search}`, headers: recorded };
      const body = init?.body;
      if (body !== undefined && body !== null) payload.body = callBody(shadow, body, headers.get('content-type'));
    } catch (err) {
      shadow.internalError('fetch', err);
    }
    return runEffect(
      shadow,
      { kind: 'http', target, op: 'call', payload },
      () => {
        try {
          headers = new Headers(headers);
          for (const [k, v] of Object.entries(propagationHeaders(ctx, ctx.seq - 1))) headers.set(k, v);
        } catch (err) {
          shadow.internalError('fetch-headers', err);
        }
        return fetch(input, { ...init, headers });
      },
      options?.dryRun ?? (() => new Response(null, { status: 204, headers: { 'x-shadow-dry-run': '1' } })),
    );
  };
}

/**
 * The body of a call as the proxy records a request body (core/body.ts): JSON and forms parsed
 * for redaction, anything else as its size and hash. A stream cannot be read without consuming
 * it, so only its kind is recorded.
 */
function callBody(shadow: Shadow, body: NonNullable<RequestInit['body']>, contentType: string | null): unknown {
  const options = { digest: (b: Uint8Array) => shadow.redactor.digest(b) };
  if (typeof body === 'string') return bodyValue([Buffer.from(body)], contentType ?? 'text/plain', options);
  if (body instanceof URLSearchParams) return bodyValue([Buffer.from(body.toString())], 'application/x-www-form-urlencoded', options);
  if (body instanceof ArrayBuffer) return bodyValue([Buffer.from(body)], contentType ?? '', options);
  if (ArrayBuffer.isView(body)) return bodyValue([Buffer.from(body.buffer, body.byteOffset, body.byteLength)], contentType ?? '', options);
  return { $unparsed: { kind: Object.prototype.toString.call(body).slice(8, -1) } };
}
