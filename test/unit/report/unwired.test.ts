// A route where one side never recorded a database write while the other often did: its SDK is
// probably not wired (issue 19). The overview says so, and the run page shows it on the route.
import { compare } from '../../../compare/engine/compare';
import { rollupOf } from '../../../compare/engine/rollup';
import { overview } from '../../../report/queries';
import { runPage } from '../../../report/pages/run';
import { effect, end } from '../../helpers/records';

const GATES = { minRequests: 1, maxMismatchRate: 0 };
const insert = (side: 'legacy' | 'candidate', shadowId: string) => effect(side, 0, { kind: 'db', target: 'blog.articles', op: 'insert', key: { _id: shadowId }, after: { _id: shadowId, title: 't' } }, shadowId);
const request = (route: string) => ({ method: 'POST', path: route, route });

/** `n` requests on `route`; each side records its insert where `writes(side, i)` says so. */
function comparisons(route: string, n: number, writes: (side: 'legacy' | 'candidate', i: number) => boolean) {
  return Array.from({ length: n }, (_, i) => {
    const id = `${route}-${i}`;
    const side = (s: 'legacy' | 'candidate') => {
      const effects = writes(s, i) ? [insert(s, id)] : [];
      return { effects, end: end(s, effects.length, { request: request(route) }, id) };
    };
    return compare({ runId: 'r1', shadowId: id, legacy: side('legacy'), candidate: side('candidate') }, { now: '2026-11-24T10:00:01.000Z' });
  });
}

it('names the side that never wrote to its database where the other did, and only there', () => {
  const rollup = rollupOf('r1', [
    ...comparisons('/articles', 6, (side) => side === 'legacy'), // the candidate is not wired
    ...comparisons('/favorites', 6, () => true), // both wired
    ...comparisons('/drafts', 6, (side, i) => side === 'legacy' && i < 2), // legacy writes rarely: nothing to say
    ...comparisons('/comments', 4, (side) => side === 'legacy'), // too few to say
    ...comparisons('/users', 6, (side) => side === 'candidate'), // the other way round
  ]);
  const routes = Object.fromEntries(overview(rollup, GATES).map((r) => [r.route, r.unwired]));
  expect(routes).toEqual({
    'POST /articles': "candidate never recorded a database write here, legacy did in 6 of 6: candidate's SDK is probably not wired to its database (docs/sdk.md, \"Is it wired?\")",
    'POST /favorites': undefined,
    'POST /drafts': undefined,
    'POST /comments': undefined,
    'POST /users': "legacy never recorded a database write here, candidate did in 6 of 6: legacy's SDK is probably not wired to its database (docs/sdk.md, \"Is it wired?\")",
  });
  const html = runPage({ run: { runId: 'r1', createdAt: '2026-11-24T10:00:00.000Z' }, routes: overview(rollup, GATES), rules: undefined, job: undefined });
  expect(html).toContain('candidate never recorded a database write here, legacy did in 6 of 6');
});
