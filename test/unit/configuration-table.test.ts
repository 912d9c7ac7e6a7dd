// The README's table of environment variables says who reads each one; this checks it against
// what the code reads: the pipeline's ENV_KEYS (every command that opens the runtime or a
// run's store), the proxy's PROXY_ENV_KEYS, the SDK's SDK_ENV_KEYS (through sdkOptionsFromEnv:
// createShadow itself reads no environment), and the commands' own COMMAND_ENV_KEYS.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROXY_ENV_KEYS } from '../../capture/proxy/config';
import { SDK_ENV_KEYS } from '../../capture/sdk/options';
import { COMMAND_ENV_KEYS } from '../../cli/env';
import { ENV_KEYS } from '../../core/config';

const ROOT = join(__dirname, '../..');

function documented(): Map<string, Set<string>> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Operations'));
  const table = new Map<string, Set<string>>();
  for (const line of section.split('\n').filter((l) => l.startsWith('| `'))) {
    const [vars = '', readers = ''] = line.split('|').slice(1, 3);
    for (const v of vars.match(/\b(SHADOWDIFF_[A-Z_]+|AMQP_URL|MONGODB_URL)\b/g) ?? []) {
      const set = table.get(v) ?? new Set<string>();
      for (const r of readers.split(',')) set.add(r.replace(/\(.*\)/, '').replace(/`/g, '').trim());
      table.set(v, set);
    }
  }
  return table;
}

function read(): Map<string, Set<string>> {
  const reads = new Map<string, Set<string>>();
  const add = (reader: string, vars: Iterable<string>) => {
    for (const v of vars) reads.set(v, (reads.get(v) ?? new Set()).add(reader));
  };
  add('SDK', Object.keys(SDK_ENV_KEYS));
  add('proxy', Object.keys(PROXY_ENV_KEYS));
  const own = Object.fromEntries(Object.entries(COMMAND_ENV_KEYS).map(([v, key]) => [key, v]));
  for (const file of readdirSync(join(ROOT, 'cli'))) {
    const command = file.replace(/\.ts$/, '');
    if (['main', 'io', 'env', 'store', 'options', 'config-file', 'rules-file', 'rewrite-file'].includes(command)) continue;
    const text = readFileSync(join(ROOT, 'cli', file), 'utf8');
    if (/configFromEnv\(|openRunStore\(/.test(text)) add(command, Object.keys(ENV_KEYS));
    for (const m of text.matchAll(/\.(\w+)\b/g)) if (own[m[1]!]) add(command, [own[m[1]!]!]);
  }
  return reads;
}

describe('the configuration table', () => {
  const table = documented();
  const code = read();

  it('names a reader for a variable only where that reader reads it', () => {
    const untrue = [...table].flatMap(([v, readers]) => [...readers].filter((r) => !code.get(v)?.has(r)).map((r) => `${v}: ${r}`));
    expect(untrue).toEqual([]);
  });

  it('lists every variable the code reads, with every reader', () => {
    const missing = [...code].flatMap(([v, readers]) => [...readers].filter((r) => !table.get(v)?.has(r)).map((r) => `${v}: ${r}`));
    expect(missing).toEqual([]);
  });
});
