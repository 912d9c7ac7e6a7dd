// A route's name: the end marker's template, or its path without the query, and never with a
// trailing slash (a router's '/' under its mount path, '/api/articles/', is '/api/articles').
import { compare } from '../../../compare/engine/compare';
import { Join } from '../../../compare/join';
import { end } from '../../helpers/records';

function routeFor(request: { method: string; path: string; route?: string }): string {
  const join = new Join();
  join.add(end('legacy', 0, { request }));
  return compare(join.add(end('candidate', 0, { request })), { now: '2026-11-24T10:00:01.000Z' }).route;
}

it.each([
  [{ method: 'get', path: '/api/articles/', route: '/api/articles/' }, 'GET /api/articles'],
  [{ method: 'GET', path: '/api/articles/?limit=5' }, 'GET /api/articles'],
  [{ method: 'POST', path: '/api/articles//', route: '/api/articles//' }, 'POST /api/articles'],
  [{ method: 'GET', path: '/', route: '/' }, 'GET /'],
  [{ method: 'GET', path: '/orders/7', route: '/orders/:id' }, 'GET /orders/:id'],
])('%j is %s', (request, route) => {
  expect(routeFor(request)).toBe(route);
});
