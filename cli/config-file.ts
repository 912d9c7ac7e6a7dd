// A JSON settings file (`--config FILE`): read, parsed as untrusted JSON, and checked to be an
// object; its keys are validated by the command's own schema.
import { readFile } from 'node:fs/promises';
import { ShadowdiffError } from '../core/errors';
import { parseJson } from '../core/json';

export async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code}.`, { file });
  }
  const value = parseJson(text, file);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ShadowdiffError('SHADOWDIFF_CONFIG', `${file}: expected a JSON object of settings.`, { file });
  return value as Record<string, unknown>;
}

/** Any JSON file a flag names (accepted differences, redaction settings), parsed as untrusted JSON. */
export async function readJsonFile(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { file });
  }
  return parseJson(text, file);
}
