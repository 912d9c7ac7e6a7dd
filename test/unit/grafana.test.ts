// The Grafana dashboard (docs/grafana/shadowdiff.json) asks only for metrics and labels that
// exist: every shadowdiff_* series a query names is registered by the proxy's or a worker's
// metrics, with the labels it groups or filters by; each query is valid PromQL (promtool check
// rules over them as recording rules); and the panels a team needs are there. RabbitMQ's own
// series come from its rabbitmq_prometheus plugin. The alerting rules (docs/grafana/alerts.yml)
// name metrics that exist too, and fire on the series they are for (promtool test rules).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyMetrics } from '../../capture/proxy/metrics';
import { workerMetrics } from '../../pipeline/metrics';

const dashboard = JSON.parse(readFileSync(join(__dirname, '../../docs/grafana/shadowdiff.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
const ALERTS = join(__dirname, '../../docs/grafana/alerts.yml');
const alertExprs = [...readFileSync(ALERTS, 'utf8').matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!);
const queries = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...alertExprs];
/** Labels Prometheus itself gives every series: the histogram bucket's, and the scrape target's. */
const SCRAPE_LABELS = new Set(['le', 'instance', 'job']);
const EXTERNAL = new Set(['rabbitmq_queue_messages_ready', 'rabbitmq_queue_messages_unacked']);

async function registered(): Promise<Map<string, Set<string>>> {
  const zero = { received: 0, deadLettered: 0, compared: 0, stored: 0, alreadyStored: 0, timedOut: 0, late: 0, storeErrors: 0, resets: 0, openJoins: 0, alerts: 0, storePendingSeconds: 0 };
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
      for (const l of by[1]!.split(',').map((x) => x.trim()).filter((x) => x && !SCRAPE_LABELS.has(x))) expect([q, l, names.some((n) => known.get(n)!.has(l))]).toEqual([q, l, true]);
    }
  }
});

function promtool(): string {
  const found = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
  if (!found) throw new Error('promtool is not installed: apt-get install prometheus (.ci/run does this).');
  return found;
}

it('every query is valid PromQL (promtool check rules)', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sd-grafana-')), 'rules.yml');
  const rules = queries.map((q, i) => `      - record: shadowdiff:dashboard_query_${i}\n        expr: ${JSON.stringify(q)}`).join('\n');
  writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
  const r = spawnSync(promtool(), ['check', 'rules', file], { encoding: 'utf8' });
  expect([r.status, r.stderr]).toEqual([0, '']);
});

it('the alerting rules are valid, the compose Prometheus loads them, and the store alerts fire on a store that fails or stops answering', () => {
  expect(alertExprs.length).toBeGreaterThanOrEqual(5);
  const checked = spawnSync(promtool(), ['check', 'rules', ALERTS], { encoding: 'utf8' });
  expect([checked.status, checked.stderr]).toEqual([0, '']);
  expect(readFileSync(join(__dirname, '../../docs/grafana/prometheus.yml'), 'utf8')).toMatch(/rule_files:\n\s+- alerts\.yml/);
  expect(readFileSync(join(__dirname, '../../docker-compose.yml'), 'utf8')).toContain('./docs/grafana/alerts.yml:/etc/prometheus/alerts.yml:ro');
  // Worker w1: healthy for 2 minutes, then a write fails every 15 s; w2 healthy throughout.
  // Its store stops answering at 1 minute: the write in flight waits 15 s more every 15 s.
  const tests = `rule_files:
  - ${ALERTS}
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'shadowdiff_worker_store_errors_total{instance="w1"}'
        values: '0x8 1+1x20'
      - series: 'shadowdiff_worker_store_errors_total{instance="w2"}'
        values: '0x28'
      - series: 'shadowdiff_worker_store_pending_seconds{instance="w1"}'
        values: '0x4 0+15x20'
      - series: 'shadowdiff_worker_store_pending_seconds{instance="w2"}'
        values: '0x28'
    alert_rule_test:
      - eval_time: 1m
        alertname: ShadowdiffStoreErrors
        exp_alerts: []
      - eval_time: 1m
        alertname: ShadowdiffStoreStalled
        exp_alerts: []
      - eval_time: 4m
        alertname: ShadowdiffStoreErrors
        exp_alerts:
          - exp_labels: { severity: warning, instance: w1 }
            exp_annotations:
              summary: "shadowdiff worker w1: store writes failing or unacknowledged"
              description: "8 store write(s) failed or passed the deadline in 5 minutes. Comparisons wait, unacked, until the store takes them; check MongoDB."
      - eval_time: 3m
        alertname: ShadowdiffStoreStalled
        exp_alerts:
          - exp_labels: { severity: critical, instance: w1 }
            exp_annotations:
              summary: "shadowdiff worker w1: the store has not acknowledged a write for 105 s"
              description: "Nothing is being stored; the broker holds the records. Check MongoDB (a hung server keeps its connections open)."
`;
  const file = join(mkdtempSync(join(tmpdir(), 'sd-alerts-')), 'alerts.test.yml');
  writeFileSync(file, tests);
  const r = spawnSync(promtool(), ['test', 'rules', file], { encoding: 'utf8' });
  expect([r.status, r.stdout.includes('SUCCESS') ? 'SUCCESS' : `${r.stdout}${r.stderr}`]).toEqual([0, 'SUCCESS']);
});
