// A recording opened by its name: `.har` (or a zip of one) and `.gor` by their readers, anything
// else as a JSONL recording; `-` is standard input.
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { ShadowdiffError } from '../core/errors';
import { readGor } from './gor';
import { isZip, readHar } from './har';
import type { ReadOptions } from '../core/jsonl';
import { readRecording, type RecordedRequest } from './recording';

/** A recording by its name: `.har`, `.gor`, otherwise JSONL; `-` is standard input. `options.onBadLine`: JSONL lines left out. */
export function openRecording(file: string, runId: string, stdin: Readable = process.stdin, options: ReadOptions = {}): AsyncIterable<RecordedRequest> {
  if (/\.(har|zip)$/i.test(file) || (file !== '-' && startsAsZip(file))) return readHar(file, runId);
  if (/\.gor$/i.test(file)) return readGor(file, runId);
  // Bytes, not text: a line that is not UTF-8 is refused by the reader, never replaced.
  const input = file === '-' ? stdin : createReadStream(file);
  if (file !== '-') {
    input.on('error', () => {}); // surfaced by the reader below with the file named
  }
  return (async function* () {
    try {
      yield* readRecording(input, file === '-' ? 'stdin' : file, options);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read the recording ${file}: ${code}.`, { file });
      throw err;
    }
  })();
}

/** A zip under another name (a Playwright HAR zip saved as .json): read as the HAR it holds, or refused saying what it is. */
function startsAsZip(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && isZip(head);
  } catch {
    return false; // unreadable: the JSONL reader names the reason
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
