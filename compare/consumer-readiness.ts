// Readiness per consumer: for each declared consumer, the differences that touch the fields it
// reads, the routes its data comes from, and whether it can sign off. A consumer is not ready
// while any difference on its fields stands (not accepted); it has not enough data while no
// route was seen writing its targets, or one of those routes still needs comparisons.
import { CompiledConsumers, type Consumer, type EffectKindOrEnd, globMatch } from './engine';
import type { ConsumerResult, Readiness, ReplayResult } from './readiness';

export type { ConsumerResult };


export function consumerResults(result: ReplayResult, consumers: readonly Consumer[]): ConsumerResult[] {
  return consumers.map((c) => consumerResult(result, c));
}

/**
 * The result with each finding group naming the given consumers whose fields it touches, and
 * readiness per consumer. The comparisons named the consumers their rules had; consumers given
 * only now (a report's --consumers, a file edited since) are matched here, by the same rule.
 * Severity stays what the comparison decided: re-evaluate the run to rank it anew.
 */
export function withConsumerImpact(result: ReplayResult, consumers: readonly Consumer[]): ReplayResult {
  if (!consumers.length) return result;
  const compiled = new CompiledConsumers(consumers);
  const routes = result.routes.map((r) => ({
    ...r,
    findings: r.findings.map((g) => {
      if (g.kind === 'contract' || g.effectKind === undefined) return g;
      const impact = compiled.impactOf({ effectKind: g.effectKind as EffectKindOrEnd, target: g.target, field: g.field === '(whole effect)' ? '' : g.field });
      if (!impact.declared) return g;
      const names = [...new Set([...(g.consumers ?? []), ...impact.consumers])].sort();
      const out = { ...g };
      delete out.unread;
      if (names.length) out.consumers = names;
      else out.unread = true;
      return out;
    }),
  }));
  const annotated = { ...result, routes };
  return { ...annotated, consumers: consumerResults(annotated, consumers) };
}

function consumerResult(result: ReplayResult, c: Consumer): ConsumerResult {
  const findings = result.routes.flatMap((r) => r.findings.filter((g) => g.consumers?.includes(c.name)));
  const routes = result.routes.flatMap((r) => {
    const counts = Object.entries(r.targets ?? {}).filter(([key]) => readsTarget(c, key));
    if (!counts.length) return [];
    return [{ route: r.route, compared: Math.max(...counts.map(([, n]) => n)), ...(r.readiness ? { readiness: r.readiness } : {}) }];
  });
  const open = findings.filter((g) => g.accepted === undefined);
  const waiting = routes.filter((r) => r.readiness === 'not enough data');
  const [readiness, why]: [Readiness, string] = open.length
    ? ['not ready', `${open.length} difference(s) on fields it reads, in ${new Set(open.map((g) => g.route)).size} route(s)`]
    : routes.length === 0
      ? ['not enough data', 'no compared request wrote what it reads']
      : waiting.length
        ? ['not enough data', `${waiting.map((r) => r.route).join(', ')} need(s) more comparisons`]
        : ['ready', `no difference on its fields in ${routes.reduce((n, r) => n + r.compared, 0)} comparison(s) of ${routes.length} route(s)`];
  return {
    name: c.name,
    owner: c.owner,
    ...(c.contact ? { contact: c.contact } : {}),
    critical: c.critical,
    reads: c.reads.map((r) => ({ target: r.target, ...(r.kind ? { kind: r.kind } : {}), paths: r.paths ?? ['(whole effect)'], schema: r.schema !== undefined })),
    readiness,
    why,
    routes,
    findings,
  };
}

/** `db shop.orders` against the consumer's reads (kind and target glob). */
function readsTarget(c: Consumer, key: string): boolean {
  const space = key.indexOf(' ');
  const kind = key.slice(0, space);
  const target = key.slice(space + 1);
  return c.reads.some((r) => (r.kind === undefined || r.kind === kind) && globMatch(r.target, target));
}
