// The folders' arrows, checked (README: Layout). Imports point one way:
//   core ← compare ← runtime ← pipeline ← {capture, replay, report} ← cli
// with capture, replay and report beside each other (replay may use capture's collector).
// The engine (compare/engine) imports only itself and core, and is imported through its
// index; adapters are imported only at the edge; no cycle between files or folders.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');

/** Each folder and the folders it may import. */
const MAY_IMPORT: Record<string, string[]> = {
  core: [],
  compare: ['core'],
  runtime: ['core', 'compare'],
  pipeline: ['core', 'compare', 'runtime'],
  capture: ['core', 'runtime'],
  replay: ['core', 'compare', 'runtime', 'pipeline', 'capture'],
  report: ['core', 'compare', 'runtime', 'pipeline'],
  cli: ['core', 'compare', 'runtime', 'pipeline', 'capture', 'replay', 'report', 'examples'],
};

/** Adapters: the concrete bus, store and handoff implementations behind runtime's ports. */
const ADAPTER = /^runtime\/(bus\/(amqp\/|memory\.ts)|store\/(mongo\/|memory\.ts)|handoff\/(memory|redis|http)\.ts)/;
/** Who picks adapters: runtime's two pickers and the CLI. */
const EDGE = /^(runtime\/index\.ts|runtime\/handoff\/index\.ts|cli\/)/;
/** Importers past the edge, each with its reason. */
const ADAPTER_ALLOWED: Record<string, string> = {
  'capture/sdk/sinks.ts → runtime/bus/amqp/publisher.ts': "the SDK's RabbitMQ sink publishes; it takes the publisher alone, not the bus",
  'capture/proxy/index.ts → runtime/handoff/http.ts': 'the proxy hosts the pre-state handoff listener (--handoff-listen)',
  'capture/proxy/index.ts → runtime/bus/amqp/control.ts': "the proxy hears the cutover guard's rollbacks on RabbitMQ's control exchange (cutover.control)",
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.tsx?$/.test(p) && !p.endsWith('.d.ts') ? [p] : [];
  });
}

const files = Object.keys(MAY_IMPORT).flatMap((f) => sources(join(ROOT, f)));
const known = new Set(files.map((f) => relative(ROOT, f)));
const graph = new Map<string, string[]>();
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const deps = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)]
    .map((m) => m[1] ?? m[2]!)
    .map((spec) => relative(ROOT, resolve(dirname(file), spec)))
    .filter((p) => !p.endsWith('.json'))
    .map((p) => [`${p}.ts`, `${p}.tsx`, `${p}/index.ts`].find((c) => known.has(c) || existsSync(join(ROOT, c))) ?? `${p} (not found)`);
  graph.set(relative(ROOT, file), deps);
}

const top = (p: string) => p.split('/')[0]!;
const edges = () => [...graph].flatMap(([file, deps]) => deps.map((d) => [file, d] as const));

function cyclesOf(g: Map<string, Iterable<string>>): string[] {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (n: string, trail: string[]) => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'visiting') {
      cycles.push([...trail.slice(trail.indexOf(n)), n].join(' → '));
      return;
    }
    state.set(n, 'visiting');
    for (const d of g.get(n) ?? []) visit(d, [...trail, n]);
    state.set(n, 'done');
  };
  for (const n of g.keys()) visit(n, []);
  return cycles;
}

describe('architecture', () => {
  it('reads the import graph', () => {
    expect(graph.get('compare/engine/compare.ts')).toEqual(expect.arrayContaining(['compare/engine/pairing.ts', 'core/effect.ts']));
    expect(graph.get('capture/sdk/sinks.ts')).toContain('runtime/bus/amqp/publisher.ts');
    expect(edges().filter(([, d]) => d.endsWith('(not found)'))).toEqual([]);
  });

  it('each folder imports only the folders below it', () => {
    const wrong = edges()
      .filter(([f, d]) => top(f) !== top(d) && !MAY_IMPORT[top(f)]!.includes(top(d)))
      .map(([f, d]) => `${f} → ${d}`);
    expect(wrong).toEqual([]);
  });

  it('the engine (compare/engine) imports only itself and core, and no I/O', () => {
    for (const [file, deps] of graph) {
      if (!file.startsWith('compare/engine/')) continue;
      expect(deps.filter((d) => !d.startsWith('compare/engine/') && top(d) !== 'core').map((d) => `${file} → ${d}`)).toEqual([]);
      expect(readFileSync(join(ROOT, file), 'utf8')).not.toMatch(/from '(node:|mongodb|amqplib|express|undici|pino|ioredis)/);
    }
  });

  it('code outside the engine imports it only through its index', () => {
    const past = edges()
      .filter(([f, d]) => !f.startsWith('compare/engine/') && d.startsWith('compare/engine/') && d !== 'compare/engine/index.ts')
      .map(([f, d]) => `${f} → ${d}`);
    expect(past).toEqual([]);
  });

  it('adapters are imported only at the edge, or by an allowed importer with its reason', () => {
    const sameAdapter = (f: string, d: string) => ADAPTER.test(f) && dirname(f) === dirname(d);
    const past = edges()
      .filter(([f, d]) => ADAPTER.test(d) && !EDGE.test(f) && !sameAdapter(f, d))
      .map(([f, d]) => `${f} → ${d}`)
      .filter((e) => !(e in ADAPTER_ALLOWED));
    expect(past).toEqual([]);
    // An allow-list entry that no longer matches an import is stale.
    for (const e of Object.keys(ADAPTER_ALLOWED)) expect(edges().map(([f, d]) => `${f} → ${d}`)).toContain(e);
  });

  it('has no import cycles between files', () => {
    expect(cyclesOf(graph)).toEqual([]);
  });

  it('has no import cycles between folders', () => {
    const folders = new Map<string, Set<string>>();
    for (const [f, d] of edges()) if (top(f) !== top(d)) folders.set(top(f), (folders.get(top(f)) ?? new Set()).add(top(d)));
    expect(cyclesOf(folders)).toEqual([]);
  });
});
