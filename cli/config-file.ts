// A JSON settings file (`--config FILE`): read, parsed as untrusted JSON, and checked to be an
// object; its keys are validated by the command's own schema.
import { ShadowdiffError } from '../core/errors';
import { readTextFile } from '../core/files';
import { parseJson } from '../core/json';

export async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  const value = parseJson(await readTextFile(file, 'config file'), file);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ShadowdiffError('SHADOWDIFF_CONFIG', `${file}: expected a JSON object of settings.`, { file });
  return value as Record<string, unknown>;
}

/** Any JSON file a flag names (accepted differences, redaction settings), parsed as untrusted JSON. */
export async function readJsonFile(file: string, what: string): Promise<unknown> {
  return parseJson(await readTextFile(file, what), file);
}
