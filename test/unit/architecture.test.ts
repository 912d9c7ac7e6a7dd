// The folders' arrows point inward (design: Folders): core imports no other folder; the
// engine in compare/engine imports only core; nothing imports runtime adapters but the edge;
// and there are no import cycles.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const FOLDERS = ['core', 'compare', 'capture', 'replay', 'report', 'runtime', 'cli'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

// A folder not built yet holds only its README (git keeps no empty folders).
const files = FOLDERS.filter((f) => existsSync(join(ROOT, f))).flatMap((f) => sources(join(ROOT, f)));
const graph = new Map<string, string[]>();
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const deps = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)]
    .map((m) => m[1] ?? m[2]!)
    .map((spec) => relative(ROOT, resolve(dirname(file), spec)))
    .filter((p) => !p.endsWith('.json'))
    .map((p) => (files.includes(join(ROOT, `${p}.ts`)) ? `${p}.ts` : `${p}/index.ts`));
  graph.set(relative(ROOT, file), deps);
}

const top = (p: string) => p.split('/')[0]!;

describe('architecture', () => {
  it('reads the import graph', () => {
    expect(graph.get('compare/engine/compare.ts')).toEqual(expect.arrayContaining(['compare/engine/pairing.ts', 'core/effect.ts']));
  });

  it('core imports nothing outside core', () => {
    for (const [file, deps] of graph) if (top(file) === 'core') for (const d of deps) expect(`${file} → ${top(d)}`).toBe(`${file} → core`);
  });

  it('the engine (compare/engine) imports only itself and core', () => {
    for (const [file, deps] of graph) {
      if (!file.startsWith('compare/engine/')) continue;
      for (const d of deps) expect([`${file} → ok`, `${file} → ${d}`]).toContain(d.startsWith('compare/engine/') || top(d) === 'core' ? `${file} → ok` : `${file} → ${d}`);
      expect(readFileSync(join(ROOT, file), 'utf8')).not.toMatch(/from '(node:|mongodb|amqplib|express|undici|pino)/);
    }
  });

  it('has no import cycles', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (n: string, trail: string[]) => {
      if (state.get(n) === 'done') return;
      if (state.get(n) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(n)), n].join(' → '));
        return;
      }
      state.set(n, 'visiting');
      for (const d of graph.get(n) ?? []) visit(d, [...trail, n]);
      state.set(n, 'done');
    };
    for (const n of graph.keys()) visit(n, []);
    expect(cycles).toEqual([]);
  });
});
