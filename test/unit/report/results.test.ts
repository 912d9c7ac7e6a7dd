// Replay results: gates, accepted differences with expiry, and the renderings — JUnit XML that
// validates against the JUnit schema (libxml2's validator, compiled to wasm), with hostile
// strings in route names and values.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateXML } from 'xmllint-wasm';
import type { Comparison, Finding } from '../../../compare/engine';
import { evaluate, Evaluator } from '../../../compare/readiness';
import { parseAcceptFile } from '../../../compare/accept';
import { renderJUnit } from '../../../report/render/junit';
import { renderMarkdown } from '../../../report/render/markdown';
import { renderText } from '../../../report/render/summary';

const XSD = readFileSync(join(__dirname, '../../fixtures/junit/junit.xsd'), 'utf8');
const JENKINS_XSD = readFileSync(join(__dirname, '../../fixtures/junit/jenkins-junit-4.xsd'), 'utf8');
const gates = { maxMismatchRate: 0, minRequests: 1, minCoverage: 0.95 };

function comparison(n: number, route: string, verdict: Comparison['verdict'], findings: Partial<Finding>[] = [], extra: Partial<Comparison> = {}): Comparison {
  return {
    v: 1,
    runId: 'r',
    shadowId: `s${n}`,
    route,
    verdict,
    findings: findings.map((f) => ({ kind: 'changed', severity: 'medium', effectKind: 'db', target: 'shop.orders', path: 'total', field: 'total', ...f }) as Finding),
    noise: [],
    sides: { legacy: { effects: 1, ended: true, status: 200 }, candidate: { effects: 1, ended: true, status: 200 } },
    pairs: [],
    comparedAt: '2026-11-25T00:00:00.000Z',
    ...extra,
  };
}

const hostile = 'POST /x/<"&\'>|\u0001]]>';
const comparisons = [
  comparison(1, 'GET /orders/:id', 'match'),
  comparison(2, 'POST /orders/:id/pay', 'mismatch', [{ legacy: 1000, candidate: 1001 }]),
  comparison(3, 'POST /orders/:id/pay', 'mismatch', [{ legacy: 2000, candidate: 2001 }]),
  comparison(4, 'POST /orders/:id/cancel', 'incomplete', [], { incomplete: ['candidate: no end marker'] }),
  comparison(5, hostile, 'mismatch', [{ target: 'shop.<x>', field: 'a&b', legacy: '<script>"', candidate: ']]>\u0000' }]),
  comparison(6, 'GET /customers/:id', 'mismatch', [{ effectKind: 'response', target: 'response', field: 'status', legacy: 200, candidate: 404 }], { sides: { legacy: { effects: 1, ended: true, status: 200 }, candidate: { effects: 1, ended: true, status: 404 } } }),
];

it('gates: regressions, coverage and minimum requests, each named when it fails', () => {
  const r = evaluate('r', comparisons, 6, gates);
  expect(r).toMatchObject({ replayed: 6, compared: 6, regressions: 4, passed: false });
  expect(r.coverage).toBeCloseTo(5 / 6);
  expect(r.failures).toEqual([
    'coverage 83.3% of 6 replayed requests compared, below --min-coverage 95.0% (did the candidate\'s effects reach the collector?)',
    '4 regression(s): mismatch rate 80.0% above --max-mismatch-rate 0.0%',
  ]);
  expect(evaluate('r', [], 0, gates).failures[0]).toBe('0 request(s) compared, fewer than --min-requests 1');
  const lax = evaluate('r', comparisons, 6, { maxMismatchRate: 1, minRequests: 1, minCoverage: 0.5 });
  expect(lax.passed).toBe(true);
  expect(lax.routes.find((x) => x.route === 'GET /customers/:id')!.lackingData).toBe(1);
  // Readiness per route: enough complete comparisons, and regressions within the allowed rate.
  const strict = evaluate('r', comparisons, 6, { maxMismatchRate: 0, minRequests: 1, minCoverage: 0 });
  expect(Object.fromEntries(strict.routes.map((x) => [x.route, x.readiness]))).toMatchObject({ 'GET /orders/:id': 'ready', 'POST /orders/:id/pay': 'not ready', 'POST /orders/:id/cancel': 'not enough data' });
});

it('a live run speaks of requests compared completely, not of a replay and its collector', () => {
  const e = new Evaluator('r');
  for (const c of comparisons) e.add(c);
  const live = e.result(e.count, gates, 'run');
  expect(live.failures[0]).toBe('coverage 83.3% of 6 requests compared completely, below --min-coverage 95.0% (the rest were incomplete or inconclusive: their reasons are listed per route)');
  expect(live.failures.join('\n')).not.toMatch(/replayed|collector/);
});

it('accepted differences turn regressions into accepted, until they expire', () => {
  const accept = parseAcceptFile({ accepted: [{ route: 'POST /orders/:id/pay', field: 'total', reason: 'agreed', expires: '2026-12-31' }] }, 'accept.json');
  const r = evaluate('r', comparisons.slice(0, 3), 3, gates, accept, '2026-11-25');
  expect(r.passed).toBe(true);
  expect(r.routes.find((x) => x.route === 'POST /orders/:id/pay')).toMatchObject({ mismatch: 0, accepted: 2 });
  const later = evaluate('r', comparisons.slice(0, 3), 3, gates, accept, '2027-01-01');
  expect(later.passed).toBe(false);
  expect(later.expired).toHaveLength(1);
  expect(renderText(later)).toMatch(/expired accepted difference .* — agreed \(expired 2026-12-31\)/);
  expect(() => parseAcceptFile({ accepted: [{ field: 'x' }] }, 'a.json')).toThrow(/a\.json: "accepted\.0\.reason"/);
  expect(() => parseAcceptFile({ accepted: [{ field: 'x', reason: 'r', expires: 'soon' }] }, 'a.json')).toThrow(/accepted\.0\.expires/);
});

it('JUnit output validates against the JUnit schema, hostile strings included', async () => {
  for (const result of [evaluate('r', comparisons, 6, gates), evaluate('r', comparisons.slice(0, 1), 1, gates), evaluate('r', [], 0, gates)]) {
    const xml = renderJUnit(result);
    for (const schema of [XSD, JENKINS_XSD]) {
      const v = await validateXML({ xml: [{ fileName: 'replay.xml', contents: xml }], schema: [{ fileName: 'junit.xsd', contents: schema }] });
      expect(v.errors).toEqual([]);
      expect(v.valid).toBe(true);
    }
  }
  const xml = renderJUnit(evaluate('r', comparisons, 6, gates));
  expect(xml).toContain('name="POST /x/&lt;&quot;&amp;\'&gt;|]]&gt;"');
  expect(xml).not.toContain('\u0000');
  expect(xml).toMatch(/<testcase classname="shadowdiff.replay" name="POST \/orders\/:id\/cancel" assertions="1" time="0"><skipped message="no request on POST \/orders\/:id\/cancel could be compared completely"\/><system-out>incomplete: candidate: no end marker \(1\)<\/system-out><\/testcase>/);
});

it('JUnit names are stable across runs (the run id is a property) and a failure names its example request', async () => {
  const withRequest = comparisons.map((c) => ({ ...c, request: { method: 'POST', path: `/orders/${c.shadowId}/pay?src=app` } }));
  const a = renderJUnit(evaluate('replay-20261202-0900', withRequest, 6, gates));
  const b = renderJUnit(evaluate('replay-20261203-0900', withRequest, 6, gates));
  const names = (x: string) => [...x.matchAll(/<(?:testsuites|testsuite|testcase) (?:classname="[^"]*" )?name="([^"]*)"/g)].map((m) => m[1]);
  expect(names(a)).toEqual(names(b));
  expect(a).toContain('<property name="run" value="replay-20261202-0900"/>');
  expect(a).not.toMatch(/<testsuites [^>]*skipped=/);
  expect(a).toMatch(/legacy=1000 candidate=1001 \(e\.g\. POST \/orders\/s2\/pay\?src=app, shadow id s2\)/);
});

it('Markdown escapes table cells and lists the gates that failed', () => {
  const md = renderMarkdown(evaluate('r', comparisons, 6, gates));
  expect(md).toMatch(/^### shadowdiff replay: ❌ regressions/);
  expect(md).toContain('| `POST /orders/:id/pay` | `shop.orders` | `total` | changed | medium | 2 | `1000` | `1001` |');
  expect(md).toContain('- gate failed: 4 regression(s)');
  // The route with a "|" in it stays in its cell: every row of the routes table has 10 cell borders.
  const row = md.split('\n').find((l) => l.startsWith('| `POST /x/'))!;
  expect(row.split(/(?<!\\)\|/)).toHaveLength(11);
});
