// `replay --rewrite FILE`: a module whose default export (or `rewrite`) changes each request
// before it is replayed, in the spirit of GoReplay's middleware: per-request tokens, signed
// URLs. It gets {method, path, headers, body} and returns the request to send, or null to leave
// the request out (counted). `.mjs`, `.cjs` or `.js`.
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ShadowdiffError } from '../core/errors';
import type { RewriteRequest } from '../replay/engine';

export async function loadRewrite(file: string): Promise<RewriteRequest> {
  if (!['.js', '.cjs', '.mjs'].includes(extname(file))) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--rewrite ${file}: a JavaScript module (.mjs, .cjs or .js) is expected.`, { file });
  let mod: { default?: unknown; rewrite?: unknown };
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as typeof mod;
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_USAGE', `--rewrite ${file} cannot be loaded: ${(err as Error).message}.`, { file });
  }
  const fn = typeof mod.rewrite === 'function' ? mod.rewrite : typeof mod.default === 'function' ? mod.default : (mod.default as { rewrite?: unknown; default?: unknown } | undefined)?.rewrite ?? (mod.default as { default?: unknown } | undefined)?.default;
  if (typeof fn !== 'function') throw new ShadowdiffError('SHADOWDIFF_USAGE', `--rewrite ${file} exports no function: export default (request) => request (or null to leave it out).`, { file });
  return fn as RewriteRequest;
}

/**
 * `--header 'name: value'` flags as headers; `$NAME` or `${NAME}` in a value is the
 * environment variable, so a token never has to be on the command line.
 */
export function staticHeaders(flags: readonly string[], env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const flag of flags) {
    const i = flag.indexOf(':');
    const name = i > 0 ? flag.slice(0, i).trim().toLowerCase() : '';
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--header "${flag.slice(0, 60)}" must be "name: value", e.g. 'authorization: Bearer $TOKEN'.`);
    out[name] = flag.slice(i + 1).trim().replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, braced: string | undefined, bare: string | undefined) => {
      const variable = (braced ?? bare)!;
      const value = env[variable];
      if (value === undefined) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--header ${name}: the environment variable ${variable} is not set.`);
      return value;
    });
  }
  return out;
}
