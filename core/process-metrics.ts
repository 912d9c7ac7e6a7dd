// Node's process metrics (prom-client's defaults) on a registry, unprefixed so stock Node
// dashboards match (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`, …; the scrape
// job tells a proxy from a worker). prom-client names three gauges `…_total`, which
// `promtool check metrics` refuses for a gauge; their labelled twins (`nodejs_active_handles`
// by type, …) stay, so nothing is lost.
import { collectDefaultMetrics, type Registry } from 'prom-client';

const GAUGES_NAMED_AS_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function processMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of GAUGES_NAMED_AS_COUNTERS) if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
}
