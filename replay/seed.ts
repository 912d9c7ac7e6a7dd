// Candidate state for CI: before a replay, collections are loaded from fixture files so the
// candidate finds the customers, products and orders the recorded requests refer to. One file
// per collection: `<collection>.json` (an array of documents) or `<collection>.jsonl` (one per
// line), in Extended JSON ({"$oid": …}, {"$date": …}). Each seeded collection is emptied first,
// so every run starts from the same state.
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { BSON, type Document, MongoClient } from 'mongodb';
import { redactUrl } from '../core/net';
import { ShadowdiffError } from '../core/errors';
import { parseJson } from '../core/json';

export interface SeedResult {
  collections: Record<string, number>;
}

export async function seed(dir: string, url: string, database?: string): Promise<SeedResult> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((f) => /\.(json|jsonl)$/i.test(f)).sort();
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read the seed directory ${dir}: ${(err as NodeJS.ErrnoException).code}.`, { file: dir });
  }
  if (!names.length) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--seed ${dir} holds no <collection>.json or <collection>.jsonl files.`);
  const fixtures: [string, Document[]][] = [];
  for (const name of names) {
    const file = join(dir, name);
    const text = await readFile(file, 'utf8');
    let docs: unknown[];
    if (extname(name).toLowerCase() === '.jsonl') docs = text.split('\n').flatMap((line, i) => (line.trim() ? [parseJson(line, `${file}:${i + 1}`)] : []));
    else {
      const value = parseJson(text, file);
      if (!Array.isArray(value)) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${file}: expected an array of documents.`, { file });
      docs = value;
    }
    const out: Document[] = docs.map((d, i) => {
      if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${file}: document ${i + 1} is not an object.`, { file });
      return BSON.EJSON.deserialize(d as Document, { relaxed: false }) as Document;
    });
    fixtures.push([basename(name, extname(name)), out]);
  }
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `cannot reach the candidate's database at ${redactUrl(url)} to seed it: ${(err as Error).message}.`);
  }
  try {
    const db = client.db(database);
    const result: SeedResult = { collections: {} };
    for (const [collection, docs] of fixtures) {
      await db.collection(collection).deleteMany({});
      if (docs.length) await db.collection(collection).insertMany(docs, { ordered: true });
      result.collections[collection] = docs.length;
    }
    return result;
  } finally {
    await client.close();
  }
}
