// Target and route globs: `*` matches any run of characters (target names contain dots and
// slashes, routes spaces and slashes). Compiled once per glob.
const globCache = new Map<string, RegExp>();

export function globMatch(glob: string, name: string): boolean {
  if (!glob.includes('*')) return glob === name;
  let re = globCache.get(glob);
  if (!re) {
    re = new RegExp(`^${glob.split('*').map(escapeRegExp).join('.*')}$`);
    globCache.set(glob, re);
  }
  return re.test(name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
