// shadowdiff/sdk: what a team installs into its legacy and candidate services. Create one
// instance per process with createShadow({side, sink}); everything else hangs off it.
import type { RequestHandler } from 'express';
import type { HeaderSource } from './context';
import { type EffectSpec, runEffect } from './effect';
import { shadowMiddleware } from './express';
import { type CallOptions, type ShadowFetch, shadowFetch } from './http';
import { instrumentChannel } from './amqp';
import { instrumentMongo } from './mongo/instrument';
import { instrumentMongoose } from './mongo/mongoose';
import type { ShadowOptions } from './options';
import { type RequestInfo, Shadow, type ShadowStats } from './shadow';

export interface ShadowSdk {
  /** Which side this service is, and the mode its shadow requests run in. */
  readonly side: Shadow['side'];
  readonly mode: Shadow['mode'];
  /** Express middleware: requests with the shadow headers run in a shadow context. */
  middleware(): RequestHandler;
  /** Runs `fn` in the context the headers describe (consumers, jobs); sends the end marker when it settles. */
  withShadowContext<T>(headers: HeaderSource, fn: () => T, request?: RequestInfo): T;
  /** Instruments a MongoClient, Db or Collection of the official driver; use the returned object. */
  mongo<T extends object>(clientOrDbOrCollection: T): T;
  /**
   * Instruments Mongoose: the mongoose module (every connection, and those made later) or one
   * connection. Call it before or after connecting; models need nothing else. Returns its argument.
   */
  mongoose<T extends object>(mongooseOrConnection: T): T;
  /** Instruments an amqplib Channel or ConfirmChannel; use the returned object. */
  amqp<T extends object>(channel: T): T;
  /** `fetch` that records the call as an `http` effect (dry-run: not made) and propagates the shadow headers. */
  readonly fetch: ShadowFetch;
  /** Any other side effect: live runs `perform` and records it; dry-run records it and returns `dryRunResult`. */
  effect<T>(spec: EffectSpec, perform: () => T | Promise<T>, dryRunResult?: T | (() => T | Promise<T>)): Promise<T>;
  /** The current request's shadow id, run, side and mode; undefined outside a shadow request. */
  context(): ReturnType<Shadow['context']>;
  stats(): ShadowStats;
  /** Waits until everything recorded so far reached the sink (false on timeout). */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Flushes and disconnects; call on shutdown. */
  close(timeoutMs?: number): Promise<void>;
}

/** Throws SHADOWDIFF_CONFIG naming the option when the options are wrong (at startup, never per request). */
export function createShadow(options: ShadowOptions): ShadowSdk {
  const shadow = new Shadow(options);
  const middleware = shadowMiddleware(shadow);
  return {
    side: shadow.side,
    mode: shadow.mode,
    middleware: () => middleware,
    withShadowContext: (headers, fn, request) => shadow.withShadowContext(headers, fn, request),
    mongo: (target) => instrumentMongo(shadow, target),
    mongoose: (target) => instrumentMongoose(shadow, target),
    amqp: (channel) => instrumentChannel(shadow, channel),
    fetch: shadowFetch(shadow),
    effect: (spec, perform, dryRunResult) => runEffect(shadow, spec, perform, dryRunResult),
    context: () => shadow.context(),
    stats: () => shadow.stats(),
    flush: (timeoutMs) => shadow.flush(timeoutMs),
    close: (timeoutMs) => shadow.close(timeoutMs),
  };
}

export { sdkOptionsFromEnv, type ShadowOptions, type ImageMode } from './options';
export type { EffectSpec } from './effect';
export type { MongoStats } from './shadow';
export type { CallOptions, ShadowFetch } from './http';
export type { RequestInfo, ShadowStats } from './shadow';
export type { RecordSink } from './transport';
