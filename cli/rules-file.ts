// Loading a rules file named on the command line: JSON, or a JS module (for canonicalize
// functions) exporting the rules as default or as `rules`.
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ShadowdiffError } from '../core/errors';
import { readTextFile } from '../core/files';
import { parseJson } from '../core/json';
import { type CompiledRules, compileRules } from '../compare/engine';

export async function loadRulesFile(file: string): Promise<CompiledRules> {
  const ext = extname(file);
  let raw: unknown;
  if (ext === '.json') {
    raw = parseJson(await readTextFile(file, 'rules file'), file);
  } else if (ext === '.js' || ext === '.cjs' || ext === '.mjs') {
    try {
      const mod = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown; rules?: unknown };
      raw = mod.rules ?? mod.default;
      if (raw && typeof raw === 'object' && 'default' in raw && !('targets' in raw)) raw = (raw as { default: unknown }).default;
    } catch (err) {
      throw new ShadowdiffError('SHADOWDIFF_RULES', `cannot load rules module ${file}: ${(err as Error).message}.`, { file });
    }
  } else {
    throw new ShadowdiffError('SHADOWDIFF_RULES', `rules file ${file}: unsupported extension "${ext}" (use .json, .js, .cjs or .mjs).`, { file });
  }
  return compileRules(raw, file);
}
