// docker-compose.yml, as `docker compose config` resolves it (the client is enough; no engine
// runs here): the full stack is there, ordered by health, bound to loopback, and every
// shadowdiff command in it is one the CLI knows. The Dockerfile copies what exists.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '../../..');

interface Service {
  image?: string;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: { host_ip?: string; published?: string; target: number }[];
  deploy?: { replicas?: number };
}

async function composeConfig(): Promise<{ services: Record<string, Service> }> {
  try {
    const { stdout } = await run('docker', ['compose', '-f', join(ROOT, 'docker-compose.yml'), 'config', '--format', 'json'], { cwd: ROOT, env: { ...process.env, SHADOWDIFF_REPORT_TOKEN: '', SHADOWDIFF_ADMIN_TOKEN: '' } });
    return JSON.parse(stdout) as { services: Record<string, Service> };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT' || /unknown command|not a docker command/.test(e.stderr ?? '')) {
      throw new Error('`docker compose` is not available: install the Docker CLI with the compose plugin (.ci/run builds the plugin with Go when it is missing).');
    }
    throw new Error(`docker compose config refused docker-compose.yml: ${e.stderr ?? e.message}`);
  }
}

it('docker compose config validates the full stack, ordered by health and bound to loopback', async () => {
  const { services } = await composeConfig();
  expect(Object.keys(services).sort()).toEqual(['candidate', 'grafana', 'legacy', 'mongo', 'prometheus', 'proxy', 'rabbitmq', 'report', 'traffic', 'worker']);
  for (const name of ['mongo', 'rabbitmq', 'legacy', 'candidate', 'proxy', 'worker', 'report']) expect({ name, health: services[name]!.healthcheck !== undefined }).toEqual({ name, health: true });
  const healthy = (s: string, deps: string[]) => {
    for (const d of deps) expect({ s, d, condition: services[s]!.depends_on?.[d]?.condition }).toEqual({ s, d, condition: 'service_healthy' });
  };
  for (const s of ['legacy', 'candidate', 'worker', 'report']) healthy(s, ['mongo', 'rabbitmq']);
  healthy('proxy', ['legacy', 'candidate', 'mongo', 'rabbitmq']);
  healthy('traffic', ['proxy']);
  expect(services.worker!.deploy?.replicas).toBe(2);
  for (const [name, s] of Object.entries(services)) for (const p of s.ports ?? []) expect({ name, port: p.target, ip: p.host_ip }).toEqual({ name, port: p.target, ip: '127.0.0.1' });
  expect(services.mongo!.healthcheck!.test.join(' ')).toContain('rs.initiate');
  // Off loopback the report and the proxy's admin API need tokens: the file supplies defaults.
  expect(services.report!.environment!.SHADOWDIFF_REPORT_TOKEN!.length).toBeGreaterThanOrEqual(16);
  expect(services.proxy!.environment!.SHADOWDIFF_ADMIN_TOKEN!.length).toBeGreaterThanOrEqual(16);
  expect(services.legacy!.environment!.SHADOWDIFF_SIDE).toBe('legacy');
  expect(services.candidate!.environment!.SHADOWDIFF_SIDE).toBe('candidate');
});

it('every shadowdiff command in the compose file is one the CLI knows, with files the image has', async () => {
  const { services } = await composeConfig();
  const cli = join(ROOT, 'bin/shadowdiff.js');
  for (const [name, s] of Object.entries(services)) {
    if (s.image !== 'shadowdiff:local') continue;
    if (s.entrypoint) {
      // The example processes: node <script> <what>
      expect({ name, script: existsSync(join(ROOT, s.entrypoint[1]!)) }).toEqual({ name, script: true });
      expect(['legacy', 'candidate', 'traffic']).toContain(s.command![0]);
      continue;
    }
    const [command, ...args] = s.command!;
    const { stdout } = await run(process.execPath, [cli, command!, '--help']);
    for (const flag of args.filter((a) => a.startsWith('--'))) expect({ name, flag, known: stdout.includes(flag) }).toEqual({ name, flag, known: true });
    for (const file of args.filter((a) => a.startsWith('dist/'))) expect({ name, file, exists: existsSync(join(ROOT, file)) }).toEqual({ name, file, exists: true });
  }
});

it('the Dockerfile copies only what exists', () => {
  const copies = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => /^COPY (?!--from)/.test(l))
    .flatMap((l) => l.split(/\s+/).slice(1, -1));
  expect(copies.length).toBeGreaterThan(5);
  for (const c of copies) expect({ c, exists: existsSync(join(ROOT, c)) }).toEqual({ c, exists: true });
});
