// amqplib channels: in a shadow context a publish is recorded as a `message` effect and carries
// the shadow headers, so whoever consumes it attributes its effects to the same shadow id. Dry-
// run records and does not publish (a confirm channel's callback still gets its ack). Consumers
// get the context back: a handler for a message with shadow headers runs inside it.
import type { Channel, ConsumeMessage, Options } from 'amqplib';
import { ShadowdiffError } from '../../core/errors';
import { parseJson } from '../../core/json';
import { currentContext, propagationHeaders, type ShadowContext } from './context';
import { toEffectValue } from '../../core/effect-value';
import { errorText, type Shadow } from './shadow';

type Publish = (exchange: string, routingKey: string, content: Buffer, options?: Options.Publish, callback?: (err: unknown, ok?: unknown) => void) => boolean;

export function instrumentChannel<T extends object>(shadow: Shadow, channel: T): T {
  const ch = channel as unknown as Channel;
  if (typeof ch.publish !== 'function' || typeof ch.sendToQueue !== 'function') {
    throw new ShadowdiffError('SHADOWDIFF_CONFIG', 'shadow.amqp() takes an amqplib Channel or ConfirmChannel (from connection.createChannel()).');
  }
  const publish = ch.publish.bind(ch) as Publish;
  const send = (exchange: string, routingKey: string, content: Buffer, options: Options.Publish | undefined, callback: ((err: unknown, ok?: unknown) => void) | undefined): boolean => {
    const ctx = currentContext();
    if (!ctx) return callback ? publish(exchange, routingKey, content, options, callback) : publish(exchange, routingKey, content, options);
    return publishInContext(shadow, ctx, publish, exchange, routingKey, content, options, callback);
  };
  return new Proxy(channel, {
    get(target, prop) {
      if (prop === 'publish') return (e: string, k: string, c: Buffer, o?: Options.Publish, cb?: (err: unknown, ok?: unknown) => void) => send(e, k, c, o, cb);
      if (prop === 'sendToQueue') return (q: string, c: Buffer, o?: Options.Publish, cb?: (err: unknown, ok?: unknown) => void) => send('', q, c, o, cb);
      if (prop === 'consume') {
        return (queue: string, onMessage: (msg: ConsumeMessage | null) => void, options?: Options.Consume) =>
          ch.consume(queue, (msg) => (msg?.properties.headers ? shadow.withShadowContext(msg.properties.headers as Record<string, string>, () => onMessage(msg), { method: 'CONSUME', path: queue }) : onMessage(msg)), options);
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

function publishInContext(
  shadow: Shadow,
  ctx: ShadowContext,
  publish: Publish,
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Options.Publish | undefined,
  callback: ((err: unknown, ok?: unknown) => void) | undefined,
): boolean {
  let seq = -1;
  let outgoing = options;
  try {
    seq = shadow.nextSeq(ctx);
    // A copy: the app's options object is never changed.
    outgoing = { ...options, headers: { ...options?.headers, ...propagationHeaders(ctx, seq) } };
  } catch (err) {
    shadow.internalError('amqp-headers', err);
  }
  const fields = () => {
    const headers: Record<string, unknown> = {};
    for (const name of shadow.options.messageHeaders) {
      const v = options?.headers?.[name];
      if (v !== undefined) headers[name] = toEffectValue(v);
    }
    const meta: Record<string, unknown> = { headers };
    if (options?.contentType) meta.contentType = options.contentType;
    return { kind: 'message' as const, target: exchange === '' ? `queue:${routingKey}` : `${exchange}/${routingKey}`, op: 'publish' as const, payload: decode(content, options?.contentType), meta };
  };
  const record = (failed?: unknown) => {
    if (seq < 0) return;
    try {
      const f = fields();
      shadow.record(ctx, seq, failed === undefined ? f : { ...f, status: 'failed', error: errorText(failed) });
    } catch (err) {
      shadow.internalError('amqp-record', err);
    }
  };
  if (ctx.mode === 'dry-run') {
    record();
    if (callback) setImmediate(() => callback(null));
    return true;
  }
  try {
    const ok = callback ? publish(exchange, routingKey, content, outgoing, callback) : publish(exchange, routingKey, content, outgoing);
    record();
    return ok;
  } catch (err) {
    record(err);
    throw err;
  }
}

function decode(content: Buffer, contentType: string | undefined): unknown {
  if (!Buffer.isBuffer(content)) return null;
  if (!contentType || /json|text/i.test(contentType)) {
    const text = content.toString('utf8');
    if (!contentType || /json/i.test(contentType)) {
      try {
        return toEffectValue(parseJson(text, 'message body'));
      } catch {
        // not JSON after all
      }
    }
    if (/text/i.test(contentType ?? '') || Buffer.from(text, 'utf8').equals(content)) return text;
  }
  return { $binary: { base64: content.toString('base64'), subType: '00' } };
}
