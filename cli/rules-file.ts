// Loading a rules file named on the command line: JSON, or a JS module (for canonicalize
// functions) exporting the rules as default or as `rules`; and a consumers file beside it,
// whose consumers join the rules' own (docs/consumers.md).
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ShadowdiffError } from '../core/errors';
import { readTextFile } from '../core/files';
import { parseJson } from '../core/json';
import { type CompiledRules, compileRules, type Consumer, consumersFileSchema } from '../compare/engine';
import { READABLE } from '../core/issues';

/** The rules of `--rules` with the consumers of `--consumers` added; undefined when neither is given. */
export async function loadRules(flags: { rules?: string | undefined; consumers?: string | undefined }): Promise<CompiledRules | undefined> {
  if (!flags.rules && !flags.consumers) return undefined;
  const raw = flags.rules ? await readRulesInput(flags.rules) : {};
  if (!flags.consumers) return compileRules(raw, flags.rules);
  const consumers = await loadConsumersFile(flags.consumers);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return compileRules(raw, flags.rules);
  const own = (raw as { consumers?: unknown }).consumers;
  const merged = { ...(raw as Record<string, unknown>), consumers: [...(Array.isArray(own) ? own : []), ...consumers] };
  return compileRules(merged, flags.rules ? `${flags.rules} with ${flags.consumers}` : flags.consumers);
}

/** A consumers file: `{ "version": 1, "consumers": [...] }`, validated with the field named. */
export async function loadConsumersFile(file: string): Promise<Consumer[]> {
  const raw = parseJson(await readTextFile(file, 'consumers file'), file);
  const parsed = consumersFileSchema.safeParse(raw, READABLE);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? issue.path.join('.') : '(file)';
    throw new ShadowdiffError('SHADOWDIFF_RULES', `${file}: field "${field}": ${issue.message}. A consumers file is {"version": 1, "consumers": [{"name", "owner", "reads": [{"target", "paths"}]}]} (docs/consumers.md).`, { file, field });
  }
  return parsed.data.consumers;
}

async function readRulesInput(file: string): Promise<unknown> {
  const ext = extname(file);
  if (ext === '.json') return parseJson(await readTextFile(file, 'rules file'), file);
  if (ext === '.js' || ext === '.cjs' || ext === '.mjs') {
    try {
      const mod = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown; rules?: unknown };
      let raw = mod.rules ?? mod.default;
      if (raw && typeof raw === 'object' && 'default' in raw && !('targets' in raw)) raw = (raw as { default: unknown }).default;
      return raw;
    } catch (err) {
      throw new ShadowdiffError('SHADOWDIFF_RULES', `cannot load rules module ${file}: ${(err as Error).message}.`, { file });
    }
  }
  throw new ShadowdiffError('SHADOWDIFF_RULES', `rules file ${file}: unsupported extension "${ext}" (use .json, .js, .cjs or .mjs).`, { file });
}
