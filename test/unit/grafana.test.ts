// The Grafana dashboard (docs/grafana/shadowdiff.json) asks only for metrics and labels that
// exist: every shadowdiff_* series a query names is registered by the proxy's or a worker's
// metrics, with the labels it groups or filters by; each query is valid PromQL (promtool check
// rules over them as recording rules); and the panels a team needs are there. RabbitMQ's own
// series come from its rabbitmq_prometheus plugin.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyMetrics } from '../../capture/proxy/metrics';
import { workerMetrics } from '../../pipeline/metrics';

const dashboard = JSON.parse(readFileSync(join(__dirname, '../../docs/grafana/shadowdiff.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
const queries = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
const EXTERNAL = new Set(['rabbitmq_queue_messages_ready', 'rabbitmq_queue_messages_unacked']);

async function registered(): Promise<Map<string, Set<string>>> {
  const zero = { received: 0, deadLettered: 0, compared: 0, stored: 0, alreadyStored: 0, timedOut: 0, late: 0, storeErrors: 0, resets: 0, openJoins: 0, alerts: 0 };
  const worker = workerMetrics(() => zero, { defaultMetrics: false });
  worker.observe({ v: 1, runId: 'r', shadowId: 's', route: 'GET /x', verdict: 'mismatch', findings: [{ kind: 'changed', severity: 'high', effectKind: 'db', target: 't', path: 'a', field: 'a' }], noise: [], sides: { legacy: { effects: 1, ended: true }, candidate: { effects: 1, ended: true } }, pairs: [], comparedAt: '2026-12-02T00:00:00Z' }, Date.now());
  const proxy = new ProxyMetrics({ defaultMetrics: false });
  proxy.request('ok', 0.01, true);
  const out = new Map<string, Set<string>>();
  for (const m of [...(await worker.registry.getMetricsAsJSON()), ...(await proxy.registry.getMetricsAsJSON())]) {
    const labels = new Set<string>();
    for (const v of m.values as { labels: Record<string, unknown> }[]) for (const l of Object.keys(v.labels)) labels.add(l);
    out.set(m.name, labels);
  }
  return out;
}

it('has the panels a team watches during a shadow run and a cutover', () => {
  expect(dashboard.panels.map((p) => p.title)).toEqual(['Mismatch rate per route', 'Coverage: mirrored, compared, and why not', 'Detection latency', 'Primary latency, with and without mirroring', 'Circuit breaker', 'Queue depth']);
});

it('every query names metrics that exist, with labels they have', async () => {
  const known = await registered();
  for (const q of queries) {
    for (const m of q.matchAll(/\b(shadowdiff_[a-z_]+|rabbitmq_[a-z_]+)\b(\{[^}]*\})?/g)) {
      const name = m[1]!;
      if (EXTERNAL.has(name)) continue;
      const base = name.replace(/_(bucket|sum|count)$/, '');
      expect([q, name, known.has(base)]).toEqual([q, name, true]);
      const labels = known.get(base)!;
      const used = [...(m[2] ?? '').matchAll(/(\w+)\s*(?:=~|!=|=)/g)].map((x) => x[1]!);
      for (const l of used) expect([name, l, labels.has(l)]).toEqual([name, l, true]);
    }
    for (const by of q.matchAll(/by \(([^)]*)\)/g)) {
      const names = [...q.matchAll(/\b(shadowdiff_[a-z_]+)\b/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')).filter((n) => known.has(n));
      for (const l of by[1]!.split(',').map((x) => x.trim()).filter((x) => x && x !== 'le')) expect([q, l, names.some((n) => known.get(n)!.has(l))]).toEqual([q, l, true]);
    }
  }
});

it('every query is valid PromQL (promtool check rules)', () => {
  const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
  if (!promtool) throw new Error('promtool is not installed: apt-get install prometheus (.ci/run does this).');
  const file = join(mkdtempSync(join(tmpdir(), 'sd-grafana-')), 'rules.yml');
  const rules = queries.map((q, i) => `      - record: shadowdiff:dashboard_query_${i}\n        expr: ${JSON.stringify(q)}`).join('\n');
  writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
  const r = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8' });
  expect([r.status, r.stderr]).toEqual([0, '']);
});
