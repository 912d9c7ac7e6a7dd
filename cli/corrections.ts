// `shadowdiff corrections`: after a cutover, what the candidate stored wrong while it served
// live, and the guarded MongoDB updates that repair it (docs/cutover.md). Lists as JSONL, CSV or
// a mongosh script; `--apply --mongodb URL` runs the updates, `--dry-run` first counts how many
// would apply and how many conflict because the document changed since.
import { Command, Option } from 'commander';
import { BSON, MongoClient } from 'mongodb';
import { type Correction, type CorrectHook, correctionsFor, type CorrectionInput } from '../compare/corrections';
import type { Comparison } from '../compare/engine';
import { ShadowdiffError } from '../core/errors';
import { redactUrl } from '../core/net';
import { eachComparison, type Store } from '../runtime/store/store';
import type { CliIo } from './io';
import { loadRules } from './rules-file';
import { openRunStore } from './store';

interface CorrectionsFlags {
  run: string;
  from?: string;
  format: 'jsonl' | 'csv' | 'mongosh';
  apply?: boolean;
  dryRun?: boolean;
  mongodb?: string;
  rules?: string;
}

export function correctionsCommand(io: CliIo): Command {
  return new Command('corrections')
    .description('what the candidate stored wrong while it served live traffic (a cutover), and the guarded updates that repair it')
    .requiredOption('--run <id>', 'the run of the cutover')
    .option('--from <dir>', 'a saved embedded run directory instead of MongoDB (MONGODB_URL)')
    .addOption(new Option('--format <format>', 'jsonl: one correction a line; csv: one change a row; mongosh: the guarded updates as a script').choices(['jsonl', 'csv', 'mongosh']).default('jsonl'))
    .option('--apply', 'run the guarded updates against --mongodb (each changes a document only if it still holds what the candidate wrote)')
    .option('--dry-run', 'with --apply: count what would apply and what conflicts, change nothing')
    .option('--mongodb <url>', 'with --apply: the live database the services write (not the results store)')
    .option('--rules <file>', 'rules whose `correct` hook maps corrections into the live side\'s schema (where canonicalize rules made the sides differ)')
    .action(async (flags: CorrectionsFlags) => {
      if (flags.dryRun && !flags.apply) throw new ShadowdiffError('SHADOWDIFF_USAGE', '--dry-run goes with --apply: shadowdiff corrections --run R --apply --dry-run --mongodb URL.');
      if (flags.apply && !flags.mongodb) throw new ShadowdiffError('SHADOWDIFF_USAGE', '--apply needs --mongodb URL: the database the services write, where the documents to repair are.');
      const rules = await loadRules({ rules: flags.rules });
      const hook = rules?.source.correct as CorrectHook | undefined;
      if (flags.rules && !hook) io.err(`note: ${flags.rules} has no \`correct\` hook; corrections whose paths are not the stored documents' stay manual`);
      const { store, close } = await openRunStore(io, 'corrections', flags.from);
      let corrections: Correction[];
      let served: number;
      try {
        if (!(await store.getRun(flags.run))) throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `no run "${flags.run}" in this store.`);
        ({ corrections, served } = await collect(store, flags.run, hook));
      } finally {
        await close();
      }
      const updates = corrections.filter((c) => c.action === 'update');
      const current = updates.filter((c) => !c.supersededBy);
      const events = corrections.filter((c) => c.action === 'event');
      const manual = corrections.filter((c) => c.action === 'manual');
      if (!flags.apply) {
        if (flags.format === 'jsonl') for (const c of corrections) io.out(JSON.stringify(c));
        else if (flags.format === 'csv') io.out(csv(corrections));
        else io.out(mongosh(current, events, manual));
      }
      io.err(
        `run ${flags.run}: ${served} request(s) served live by the candidate did not match; ${corrections.length} correction(s): ${updates.length} document update(s)${updates.length > current.length ? ` (${updates.length - current.length} superseded by a later request to the same document)` : ''}, ${events.length} event(s) whose consumers must be told, ${manual.length} for a person to decide`,
      );
      if (flags.apply) {
        const result = await apply(current, flags.mongodb!, flags.dryRun === true);
        io.out(JSON.stringify(result));
        io.err(`${flags.dryRun ? 'dry run: would apply' : 'applied'} ${result.applied}; conflicts ${result.conflicts.length} (the document changed since the candidate's write: ${result.conflicts.filter((c) => c.why === 'changed').length}, gone: ${result.conflicts.filter((c) => c.why === 'gone').length}); nothing else was touched`);
        if (result.conflicts.length) io.exitCode(1);
      }
    });
}

async function collect(store: Store, runId: string, hook: CorrectHook | undefined): Promise<{ corrections: Correction[]; served: number }> {
  const chosen: Comparison[] = [];
  for (const verdict of ['mismatch', 'error'] as const) {
    for await (const c of eachComparison(store, { runId, verdict })) if (c.served === 'candidate') chosen.push(c);
  }
  const inputs: CorrectionInput[] = [];
  for (let i = 0; i < chosen.length; i += 200) {
    const page = chosen.slice(i, i + 200);
    const records = await store.getEffectsOf(runId, page.map((c) => c.shadowId));
    for (const c of page) inputs.push({ comparison: c, records: records.get(c.shadowId) ?? [] });
  }
  return { corrections: correctionsFor(inputs, hook), served: chosen.length };
}

export interface ApplyResult {
  dryRun: boolean;
  applied: number;
  conflicts: { shadowId: string; target: string; key: unknown; why: 'changed' | 'gone' }[];
}

/** Each update changes its document only while it holds what the candidate wrote (the filter). */
async function apply(updates: Correction[], url: string, dryRun: boolean): Promise<ApplyResult> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `cannot reach MongoDB at ${redactUrl(url)}: ${(err as Error).message}.`);
  }
  const result: ApplyResult = { dryRun, applied: 0, conflicts: [] };
  try {
    for (const c of updates) {
      const u = c.update!;
      const collection = client.db(u.database).collection(u.collection);
      const filter = BSON.EJSON.deserialize(u.filter, { relaxed: false }) as Record<string, unknown>;
      const update = BSON.EJSON.deserialize(u.update, { relaxed: false }) as Record<string, unknown>;
      const matched = dryRun ? await collection.countDocuments(filter, { limit: 1 }) : (await collection.updateOne(filter, update)).matchedCount;
      if (matched > 0) {
        result.applied += 1;
        continue;
      }
      const exists = await collection.countDocuments({ _id: filter._id } as never, { limit: 1 });
      result.conflicts.push({ shadowId: c.shadowId, target: c.target, key: c.key, why: exists ? 'changed' : 'gone' });
    }
  } finally {
    await client.close();
  }
  return result;
}

function cell(v: unknown): string {
  const text = v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row per change (a correction with several changes has several rows). */
function csv(list: Correction[]): string {
  const rows = ['shadowId,route,action,target,key,path,live,reference,finding,severity,consumers,supersededBy,why'];
  for (const c of list) {
    const changes = c.changes.length ? c.changes : [undefined];
    for (const ch of changes) {
      rows.push([c.shadowId, c.route, c.action, c.target, c.key, ch?.path, ch?.live, ch?.reference, ch?.finding, ch?.severity, ch?.consumers?.join(' '), c.supersededBy, c.why].map(cell).join(','));
    }
  }
  return rows.join('\n');
}

/** The updates as a mongosh script: Extended JSON parsed by mongosh's EJSON, so types survive. */
function mongosh(updates: Correction[], events: Correction[], manual: Correction[]): string {
  const q = (v: unknown) => `EJSON.parse(${JSON.stringify(JSON.stringify(v))})`;
  const lines = ['// shadowdiff corrections: each update changes a document only while it still holds what the candidate wrote.'];
  for (const c of updates) {
    const u = c.update!;
    lines.push(`// ${c.shadowId} ${c.route}: ${c.changes.map((ch) => ch.path).join(', ')}`);
    lines.push(`printjson(db.getSiblingDB(${JSON.stringify(u.database)}).getCollection(${JSON.stringify(u.collection)}).updateOne(${q(u.filter)}, ${q(u.update)}));`);
  }
  for (const c of [...events, ...manual]) lines.push(`// ${c.action}: ${c.shadowId} ${c.target} — ${c.why}`);
  return lines.join('\n');
}
