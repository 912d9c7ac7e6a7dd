// Compressing a message in the thread (serialize) and on the thread pool (a publisher inside a
// service) gives what decodeBody reads back; small bodies and `none` travel as they are.
import { decodeBody, encodeBody, encodeBodyOffThread, MIN_COMPRESSED_BYTES } from '../../../runtime/bus/encoding';

const big = Buffer.from(JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ orderNo: `A-${i}`, total: 1000 + i, status: 'PAID' }))));
const small = Buffer.from('{"v":2,"type":"end"}');

it.each(['br', 'deflate'] as const)('%s: on the thread pool as in the thread, and back', async (compression) => {
  const offThread = await encodeBodyOffThread(big, compression);
  const inThread = encodeBody(big, compression);
  expect(offThread.encoding).toBe(compression);
  expect(offThread.body.length).toBeLessThan(big.length / 5);
  expect(decodeBody(offThread.body, offThread.encoding)).toEqual(big);
  expect(offThread).toEqual(inThread);
});

it('leaves bodies under the threshold, and everything with none, as they are', async () => {
  expect(small.length).toBeLessThan(MIN_COMPRESSED_BYTES);
  expect(await encodeBodyOffThread(small, 'br')).toEqual({ body: small });
  expect(await encodeBodyOffThread(big, 'none')).toEqual({ body: big });
  expect(encodeBody(big, 'none')).toEqual({ body: big });
});
