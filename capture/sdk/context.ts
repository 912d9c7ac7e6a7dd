// The request context: which shadow id, run, side and mode the current async call chain works
// for, kept in an AsyncLocalStorage. No context, no recording: the SDK is inert.
import { AsyncLocalStorage } from 'node:async_hooks';
import { CHILD_SEQ_STRIDE, type Side } from '../../core/effect';
import { EXCHANGE_HEADER, HEADERS, type Mode, SEQ_BASE_HEADER } from '../../core/headers';
import { SIGNATURE_HEADER, type SignedFields, type Verdict } from '../../core/signing';
import type { Overlay } from './mongo/overlay';
import type { Rewind } from './mongo/rewind';

export interface ShadowContext {
  readonly shadowId: string;
  readonly runId: string;
  readonly side: Side;
  readonly mode: Mode;
  /** The proxy's signature that lowered this request to dry-run: passed on with the headers it propagates. */
  readonly signature?: string;
  /** The seq of the next effect. */
  seq: number;
  /** First seq of this context: 0 for a request, higher for a child (see SEQ_BASE_HEADER). */
  readonly seqBase: number;
  /** Effects recorded but dropped (buffer full). */
  dropped: number;
  ended: boolean;
  /** A recorder in front (proxy, replay) sends an exchange for this request: the end marker says so. */
  readonly exchange: boolean;
  /** Dry-run: this request's would-be writes, seen by its own reads. */
  overlay?: Overlay;
  /** Dry-run: the last emulated write of this request (the next one waits for it). */
  writes?: Promise<unknown>;
  /** The pre-state handoff could not be relied on for this request: why (the first reason). */
  prestateUnknown?: string;
  /** Live: the image fields handed off, with the put that carries each (a document keeps its first image). */
  handedOff?: Map<string, Promise<unknown>>;
  /** Dry-run: the live side's writes of this request, as read from the handoff. */
  rewind?: Rewind;
  /** Dry-run without a handoff: fingerprints of the documents read (see noteReads). */
  reads?: { target: string; key: unknown; fp: string }[];
  readsOmitted?: number;
}

export const storage = new AsyncLocalStorage<ShadowContext>();

export function currentContext(): ShadowContext | undefined {
  return storage.getStore();
}

const ID = /^[\w.:-]{1,200}$/;
const MAX_SEQ_BASE = 2 ** 50;

export type HeaderSource = Record<string, string | string[] | number | undefined> | { get(name: string): string | null | undefined };

export function readHeader(headers: HeaderSource, name: string): string | undefined {
  const v = typeof headers.get === 'function' ? (headers as { get(n: string): string | null | undefined }).get(name) : (headers as Record<string, unknown>)[name];
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) return v.length ? String(v[0]) : undefined;
  return Buffer.isBuffer(v) ? v.toString() : String(v);
}

export type ContextResult = { context: ShadowContext; refused?: Exclude<Verdict, 'good'> } | { inert: 'no-headers' | 'invalid-headers'; reason?: string };

/** Checks a signature over the request's shadow fields (core/signing.ts), with the SDK's keys. */
export type SignatureCheck = (value: string | undefined, fields: SignedFields) => Verdict;

/**
 * The context for a request or message carrying the shadow headers. The side is the SDK's own;
 * so is the mode, except that a live SDK runs a request in dry-run when its headers ask for it
 * *and* carry a good signature (`check`; none configured: never). A header never raises a side
 * to live. `refused` says why a request that asked for dry-run runs live.
 */
export function contextFromHeaders(headers: HeaderSource, side: Side, base: Mode, check?: SignatureCheck): ContextResult {
  const shadowId = readHeader(headers, HEADERS.shadowId);
  if (shadowId === undefined) return { inert: 'no-headers' };
  const runId = readHeader(headers, HEADERS.run);
  if (!ID.test(shadowId)) return { inert: 'invalid-headers', reason: `${HEADERS.shadowId} must be 1-200 letters, digits or . _ : -` };
  if (runId === undefined || !ID.test(runId)) return { inert: 'invalid-headers', reason: `${HEADERS.run} is missing or not 1-200 letters, digits or . _ : -` };
  const baseText = readHeader(headers, SEQ_BASE_HEADER);
  let seqBase = 0;
  if (baseText !== undefined) {
    seqBase = Number(baseText);
    if (!Number.isSafeInteger(seqBase) || seqBase < CHILD_SEQ_STRIDE || seqBase > MAX_SEQ_BASE) return { inert: 'invalid-headers', reason: `${SEQ_BASE_HEADER} must be an integer from ${CHILD_SEQ_STRIDE}` };
  }
  const exchange = readHeader(headers, EXCHANGE_HEADER) === '1';
  const context: ShadowContext = { shadowId, runId, side, mode: base, seq: seqBase, seqBase, dropped: 0, ended: false, exchange };
  if (base === 'live' && readHeader(headers, HEADERS.mode) === 'dry-run') {
    const signature = readHeader(headers, SIGNATURE_HEADER);
    const verdict = check ? check(signature, { shadowId, runId, side, mode: 'dry-run' }) : 'unsigned';
    if (verdict !== 'good') return { context, refused: verdict };
    return { context: { ...context, mode: 'dry-run', signature: signature! } };
  }
  return { context };
}

/** The headers that carry a context to work it causes elsewhere (a message, an HTTP call). */
export function propagationHeaders(ctx: ShadowContext, causingSeq: number): Record<string, string> {
  const h: Record<string, string> = {
    [HEADERS.shadowId]: ctx.shadowId,
    [HEADERS.run]: ctx.runId,
    [HEADERS.side]: ctx.side,
    [HEADERS.mode]: ctx.mode,
    // Effects caused elsewhere get their own seq range, so they never collide with this side's.
    [SEQ_BASE_HEADER]: String((causingSeq + 1) * CHILD_SEQ_STRIDE),
  };
  // A same-side service the request reaches (a consumer of its message) runs it in dry-run too.
  if (ctx.signature !== undefined) h[SIGNATURE_HEADER] = ctx.signature;
  return h;
}
