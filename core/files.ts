// Reading a file a user named: its text, or SHADOWDIFF_IO naming what the file was for and
// the OS's reason (ENOENT, EACCES, EISDIR).
import { readFile } from 'node:fs/promises';
import { ShadowdiffError } from './errors';

/** `what`: what the file is for, as a message names it ("rules file", "HAR file"). */
export async function readTextFile(file: string, what: string): Promise<string> {
  return (await readBytesFile(file, what)).toString('utf8');
}

export async function readBytesFile(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { file });
  }
}
