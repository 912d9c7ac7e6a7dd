// Runs the Mongoose blog example once and prints what the comparison found:
//   MONGODB_URL=mongodb://127.0.0.1:27017 node dist/examples/mongoose/main.js
// Settings from the environment: MONGODB_URL (required), BLOG_DB (blog_example; emptied first),
// LOG_LEVEL (warn).
import { createLogger } from '../../core/logger';
import { runBlogExample } from './run';

async function main(): Promise<void> {
  const url = process.env.MONGODB_URL;
  if (!url) {
    process.stderr.write('MONGODB_URL is not set: point it at a MongoDB (or MongoDB-wire) server, e.g. MONGODB_URL=mongodb://127.0.0.1:27017\n');
    process.exit(2);
  }
  const r = await runBlogExample({ mongodbUrl: url, dbName: process.env.BLOG_DB || 'blog_example', logger: createLogger({ level: process.env.LOG_LEVEL ?? 'warn' }) });
  const out: string[] = [`${r.sent} requests sent through the proxy, ${r.result.compared} compared`];
  for (const route of r.result.routes) {
    out.push(`  ${route.route.padEnd(40)} ${String(route.compared).padStart(4)} compared  ${String(route.mismatch).padStart(3)} mismatch`);
    for (const g of route.findings) out.push(`      ${g.target}  ${g.field}  in ${g.requests} request(s)`);
  }
  const writes = Object.entries(r.candidateCommands).filter(([name]) => /^(insert|update|delete|findAndModify|create|createIndexes|drop)/.test(name));
  out.push(`candidate (dry-run): ${r.stats.candidate.effects} effects recorded, ${writes.length ? `WRITE COMMANDS SENT: ${JSON.stringify(Object.fromEntries(writes))}` : 'no write command sent to the server'}, ${r.stats.candidate.mongo.schemaSkipped} index/collection change(s) skipped`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`blog example failed: ${err.message}\n`);
  process.exit(1);
});
