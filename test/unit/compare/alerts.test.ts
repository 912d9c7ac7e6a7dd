// The live alert monitor: a mismatch rate over a window, k mismatches in a row however few
// requests a route has had, and one finding on a target marked critical; each alert names the
// fields with their values, and a route alerts once per cooldown.
import { AlertMonitor, alertText } from '../../../compare/alerts';
import { compare } from '../../../compare/engine/compare';
import { effect, end } from '../../helpers/records';

let n = 0;
/** One comparison of POST /orders: the order's total and the payment's amount, legacy against candidate. */
function request(total: [number, number], amount: [number, number] = [5, 5], route = '/orders') {
  const id = `s${String(n++).padStart(4, '0')}`;
  const request = { method: 'POST', path: route, route };
  const side = (s: 'legacy' | 'candidate', i: 0 | 1) => ({
    effects: [effect(s, 0, { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: 1 }, after: { _id: 1, total: total[i] } }, id), effect(s, 1, { kind: 'db', target: 'shop.payments', op: 'insert', key: { _id: 2 }, after: { _id: 2, amount: amount[i] } }, id)],
    end: end(s, 2, { request }, id),
  });
  return compare({ runId: 'r1', shadowId: id, legacy: side('legacy', 0), candidate: side('candidate', 1) }, { now: '2026-11-24T10:00:01.000Z' });
}

it('five mismatches in a row alert on a new route, before the window has enough for a rate; then the route is quiet', () => {
  const m = new AlertMonitor({ windowSeconds: 60, threshold: 0.05, minRequests: 20, cooldownSeconds: 300 });
  const alerts = Array.from({ length: 12 }, (_, i) => m.observe(request([100, 101]), 1_000 + i));
  expect(alerts.findIndex((a) => a !== undefined)).toBe(4);
  const a = alerts[4]!;
  expect(a).toMatchObject({ reason: 'consecutive', streak: 5, route: 'POST /orders', window: { compared: 5, mismatched: 5 } });
  expect(a.fields).toEqual([{ target: 'shop.orders', field: 'total', kind: 'changed', severity: 'medium', legacy: 100, candidate: 101, shadowId: a.examples.at(-1) }]);
  expect(alertText(a)).toMatch(/^POST \/orders in run r1: 5 mismatches in a row\. shop\.orders total: legacy 100 → candidate 101\. Examples: /);
  expect(alerts.filter(Boolean)).toHaveLength(1); // the rate, once it counts, does not page again within the cooldown
});

it('a match breaks the run of mismatches; the rate still alerts once the window holds enough', () => {
  const m = new AlertMonitor({ windowSeconds: 60, threshold: 0.2, minRequests: 20, cooldownSeconds: 300 });
  const alerts = Array.from({ length: 30 }, (_, i) => m.observe(request(i % 2 ? [1, 1] : [1, 2]), 1_000 + i));
  const raised = alerts.filter(Boolean);
  expect(raised).toHaveLength(1);
  // The 20th is a match; the 21st, a mismatch, tips it (11 of 21).
  expect(raised[0]).toMatchObject({ reason: 'rate', window: { compared: 21, mismatched: 11 } });
  expect(alertText(raised[0]!)).toMatch(/52\.4% of 21 requests mismatch in the last 60s \(threshold 20\.0%\)\. shop\.orders total: legacy 1 → candidate 2/);
});

it('one high-severity finding on a target marked critical alerts at once and names it; a lesser one or another target does not', () => {
  const m = new AlertMonitor({ windowSeconds: 60, threshold: 0.05, minRequests: 20, cooldownSeconds: 300, consecutive: 0, criticalTargets: ['shop.pay*'], criticalSeverity: 'medium' });
  expect(m.observe(request([1, 2]), 1)).toBeUndefined(); // shop.orders is not critical
  const a = m.observe(request([1, 1], [5, 7], '/orders/:id/pay'), 2)!;
  expect(a).toMatchObject({ reason: 'critical', route: 'POST /orders/:id/pay', fields: [{ target: 'shop.payments', field: 'amount', legacy: 5, candidate: 7 }] });
  expect(alertText(a)).toContain('a critical finding. shop.payments amount: legacy 5 → candidate 7');
  const high = new AlertMonitor({ windowSeconds: 60, threshold: 0.05, minRequests: 20, cooldownSeconds: 300, consecutive: 0, criticalTargets: ['shop.payments'], criticalSeverity: 'high' });
  expect(high.observe(request([1, 1], [5, 7]), 1)).toBeUndefined(); // a changed value is medium
});
