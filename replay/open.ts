// A recording opened by its name: `.har` and `.gor` by their readers, anything else as a JSONL
// recording; `-` is standard input.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { ShadowdiffError } from '../core/errors';
import { readGor } from './gor';
import { readHar } from './har';
import { readRecording, type RecordedRequest } from './recording';

/** A recording by its name: `.har`, `.gor`, otherwise JSONL; `-` is standard input. */
export function openRecording(file: string, runId: string, stdin: Readable = process.stdin): AsyncIterable<RecordedRequest> {
  if (/\.har$/i.test(file)) return readHar(file, runId);
  if (/\.gor$/i.test(file)) return readGor(file, runId);
  const input = file === '-' ? stdin : createReadStream(file, 'utf8');
  if (file !== '-') {
    input.on('error', () => {}); // surfaced by the reader below with the file named
  }
  return (async function* () {
    try {
      yield* readRecording(input, file === '-' ? 'stdin' : file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read the recording ${file}: ${code}.`, { file });
      throw err;
    }
  })();
}
