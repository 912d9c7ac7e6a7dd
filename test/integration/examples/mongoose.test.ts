// The Mongoose example (examples/mongoose): a blog service written as Mongoose apps are, legacy
// live and the candidate dry-run with one seeded bug, behind the proxy, driven by concurrent
// clients with no delays. The bug is found on its route and field and nowhere else; every other
// route matches; the candidate's driver sent the server reads only, its startup included.
import { createLogger } from '../../../core/logger';
import { runBlogExample } from '../../../examples/mongoose/run';
import { connectMongo, MONGODB_URL, uniqueDbName } from '../../helpers/services';

jest.setTimeout(120_000);

it('the seeded bug is found on its route and field, nothing else differs, and the dry-run candidate sent the server no write', async () => {
  const dbName = uniqueDbName('blog');
  try {
    const r = await runBlogExample({ mongodbUrl: MONGODB_URL, dbName, logger: createLogger({ level: 'silent' }) });
    expect(r.result.compared).toBe(r.sent);
    const routes = Object.fromEntries(r.result.routes.map((x) => [x.route, x]));
    const favorite = routes['POST /api/articles/:slug/favorite']!;
    // Who favorited is missing, and so is the `__v` increment Mongoose makes when an array changes.
    expect(favorite.findings.map((g) => [g.target, g.field]).sort()).toEqual([[`${dbName}.articles`, '__v'], [`${dbName}.articles`, 'favoritedBy[*]']]);
    expect(favorite.mismatch).toBe(favorite.compared);
    const others = r.result.routes.filter((x) => x !== favorite);
    expect(others.map((x) => x.route).sort()).toEqual(
      ['DELETE /api/articles/:slug/comments', 'GET /api/articles/:slug', 'POST /api/articles', 'POST /api/articles/:slug/comments', 'POST /api/profiles/:username/follow', 'POST /api/users', 'PUT /api/articles/:slug'].sort(),
    );
    for (const x of others) expect({ route: x.route, mismatch: x.mismatch, findings: x.findings.map((g) => g.field), incomplete: x.incomplete, inconclusive: x.inconclusive, error: x.error }).toEqual({ route: x.route, mismatch: 0, findings: [], incomplete: 0, inconclusive: 0, error: 0 });
    // Both sides recorded their writes: Mongoose is wired.
    expect(r.stats.legacy.effects).toBeGreaterThan(r.sent);
    expect(r.stats.candidate.effects).toBeGreaterThan(r.sent);
    expect(r.stats.candidate.mongo.schemaSkipped).toBeGreaterThan(0); // autoIndex and autoCreate
    const writes = Object.keys(r.candidateCommands).filter((c) => ['insert', 'update', 'delete', 'findAndModify', 'create', 'createIndexes', 'drop', 'dropIndexes', 'dropDatabase'].includes(c));
    expect(writes).toEqual([]);
    expect(r.candidateCommands.find).toBeGreaterThan(0);
  } finally {
    const client = await connectMongo();
    await client.db(dbName).dropDatabase().catch(() => undefined);
    await client.close();
  }
});
