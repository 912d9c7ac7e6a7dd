// Message bodies compressed on the wire (issue 24, item 2). A publisher compresses each packed
// message with brotli or deflate and says so in the message's content-encoding; the worker
// decodes it before it parses it, and a message it dead-letters keeps its encoding, which
// `--drain-dead` decodes again to show the JSON. Decoding is bounded: a message that would inflate
// beyond MAX_DECODED_BYTES (a zip bomb, or a corrupt body) is refused with its reason, never
// decompressed into memory without end. bench/wire.js measured the codecs (docs/pipeline.md).
import { promisify } from 'node:util';
import { brotliCompress, brotliCompressSync, brotliDecompressSync, constants, deflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';
import { ShadowdiffError } from '../../core/errors';
import type { Compression } from '../../core/settings';

/** A message body decodes to at most this many bytes: RabbitMQ's own default limit on a message (128 MiB). */
export const MAX_DECODED_BYTES = 128 * 1024 * 1024;
/** Smaller bodies (a lone end marker) travel as they are: compressing them saves nothing worth the CPU. */
export const MIN_COMPRESSED_BYTES = 1024;

/** A serialized message: its body, and the content-encoding it was compressed with (absent: plain JSON). */
export interface WireMessage {
  shadowId: string;
  body: Buffer;
  encoding?: 'br' | 'deflate';
}

// Brotli quality 1: 4.1% of the bytes for 0.02 ms per order request (bench/wire.js); higher
// qualities save a few points more for several times the publisher's CPU.
const brotliOptions = (body: Buffer) => ({ params: { [constants.BROTLI_PARAM_QUALITY]: 1, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } });
const DEFLATE_OPTIONS = { level: 1 };
const brotliAsync = promisify(brotliCompress);
const deflateAsync = promisify(deflateRaw);

/** The body compressed, in this thread (serialize; the benches). */
export function encodeBody(body: Buffer, compression: Compression): { body: Buffer; encoding?: 'br' | 'deflate' } {
  if (compression === 'none' || body.length < MIN_COMPRESSED_BYTES) return { body };
  if (compression === 'br') return { body: brotliCompressSync(body, brotliOptions(body)), encoding: 'br' };
  return { body: deflateRawSync(body, DEFLATE_OPTIONS), encoding: 'deflate' };
}

/**
 * The same, on libuv's thread pool: what a publisher inside a service (the SDK, the proxy)
 * uses, so that compressing never runs on the event loop of the host it shares.
 */
export async function encodeBodyOffThread(body: Buffer, compression: Compression): Promise<{ body: Buffer; encoding?: 'br' | 'deflate' }> {
  if (compression === 'none' || body.length < MIN_COMPRESSED_BYTES) return { body };
  if (compression === 'br') return { body: await brotliAsync(body, brotliOptions(body)), encoding: 'br' };
  return { body: await deflateAsync(body, DEFLATE_OPTIONS), encoding: 'deflate' };
}

/**
 * The JSON a message carries. Throws SHADOWDIFF_BAD_RECORD naming why it cannot be read (an
 * encoding this version does not know, a corrupt body, one that inflates beyond the bound):
 * the message is dead-lettered as it came, with its content-encoding.
 */
export function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  if (encoding === undefined || encoding === '' || encoding === 'identity') return body;
  if (encoding !== 'br' && encoding !== 'deflate') {
    throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `message: content-encoding "${encoding.slice(0, 40)}" is not one this shadowdiff reads (br, deflate); upgrade the worker, or set the publisher's compression to one of those`, { encoding });
  }
  try {
    return encoding === 'br' ? brotliDecompressSync(body, { maxOutputLength: MAX_DECODED_BYTES }) : inflateRawSync(body, { maxOutputLength: MAX_DECODED_BYTES });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ERR_BUFFER_TOO_LARGE' ? `it would decode to more than ${MAX_DECODED_BYTES} bytes` : `the body is not valid ${encoding} (${(err as Error).message})`;
    throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `message: cannot decode its content-encoding ${encoding}: ${reason}`, { encoding });
  }
}

/**
 * A dead letter as `--drain-dead` and the report show it: its JSON, or, when it cannot be
 * decoded (that may be why it is there), the body as it came with its encoding.
 */
export function readableDeadLetter(body: Buffer, encoding: string | undefined): { body: Buffer; encoding?: string } {
  try {
    return { body: decodeBody(body, encoding) };
  } catch {
    return { body, ...(encoding ? { encoding } : {}) };
  }
}
