// Reading a file a user named: its text, or SHADOWDIFF_IO naming what the file was for and
// the OS's reason (ENOENT, EACCES, EISDIR).
import { isUtf8 } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { ShadowdiffError } from './errors';

/** `what`: what the file is for, as a message names it ("rules file", "HAR file"). Must be UTF-8. */
export async function readTextFile(file: string, what: string): Promise<string> {
  return utf8Text(await readBytesFile(file, what), `the ${what} ${file}`);
}

/**
 * The bytes as text, or SHADOWDIFF_BAD_RECORD naming the first line that is not UTF-8: a byte
 * is never replaced, or two different values could compare equal.
 */
export function utf8Text(bytes: Uint8Array, where: string): string {
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let line = 1;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      if (!isUtf8(bytes.subarray(start, i))) break;
      line += 1;
      start = i + 1;
    }
  }
  throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${where}: line ${line} is not valid UTF-8 (save it as UTF-8; bytes are not replaced, so that two different ones cannot compare equal).`, { line });
}

export async function readBytesFile(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { file });
  }
}
