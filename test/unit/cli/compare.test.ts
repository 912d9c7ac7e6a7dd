// `shadowdiff compare` end to end through the CLI entry (run()), on real files.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../cli/main';
import { fakeIo } from '../../helpers/cli';

const AT = '2026-11-24T10:00:00.000Z';
const dir = mkdtempSync(join(tmpdir(), 'shadowdiff-cli-'));

function rec(side: string, shadowId: string, fields: Record<string, unknown>) {
  return JSON.stringify({ v: 1, runId: 'r1', shadowId, side, at: AT, ...fields });
}
function order(side: string, shadowId: string, total: number | Record<string, unknown>, seq = 0) {
  return rec(side, shadowId, { type: 'effect', seq, kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: shadowId }, before: null, after: { _id: shadowId, total, at: Date.now() + Math.random() } });
}
function endOf(side: string, shadowId: string, count: number) {
  return rec(side, shadowId, { type: 'end', count, request: { method: 'POST', path: `/orders/${shadowId}`, route: '/orders/:id' }, status: 201 });
}
function file(name: string, lines: string[]): string {
  const p = join(dir, name);
  writeFileSync(p, `${lines.join('\n')}\n`);
  return p;
}

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { io, out, err } = fakeIo();
  const code = await run(args, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const legacy = file('legacy.jsonl', [order('legacy', 'A', 100), endOf('legacy', 'A', 1), order('legacy', 'B', 200), endOf('legacy', 'B', 1), order('legacy', 'C', 300), endOf('legacy', 'C', 1)]);
const candidateOk = file('cand-ok.jsonl', [order('candidate', 'A', 100), endOf('candidate', 'A', 1), order('candidate', 'B', 200), endOf('candidate', 'B', 1), order('candidate', 'C', 300), endOf('candidate', 'C', 1)]);
const candidateBad = file('cand-bad.jsonl', [order('candidate', 'A', 100), endOf('candidate', 'A', 1), order('candidate', 'B', 201), endOf('candidate', 'B', 1), order('candidate', 'C', 300)]);
const ignoreAt = file('rules.json', [JSON.stringify({ targets: [{ match: 'shop.orders', ignore: ['at'] }] })]);

describe('shadowdiff compare', () => {
  it('exits 0 and prints the totals when everything matches', async () => {
    const r = await cli('compare', '--legacy', legacy, '--candidate', candidateOk, '--rules', ignoreAt);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toBe('3 compared: 3 match, 0 mismatch, 0 incomplete, 0 error');
  });

  it('exits 1 and names each non-matching comparison, its route and findings', async () => {
    const r = await cli('compare', '--legacy', legacy, '--candidate', candidateBad, '--rules', ignoreAt);
    expect(r.code).toBe(1);
    expect(r.out).toContain('MISMATCH   B  POST /orders/:id');
    expect(r.out).toMatch(/medium\s+changed\s+db shop\.orders total\s+legacy=200\s+candidate=201/);
    expect(r.out).toContain('INCOMPLETE C  POST /orders/:id');
    expect(r.out).toContain('candidate: no end marker');
    expect(r.out).not.toContain('MATCH      A');
    expect(r.out).toContain('3 compared: 1 match, 1 mismatch, 1 incomplete, 0 error');
  });

  it('without the rules, the timestamps differ everywhere', async () => {
    const r = await cli('compare', '--legacy', legacy, '--candidate', candidateOk);
    expect(r.code).toBe(1);
    expect(r.out).toContain('3 compared: 0 match, 3 mismatch');
  });

  it('a line that is not UTF-8 is named and left out, never replaced; the rest is compared and the exit code is 2', async () => {
    // Legacy wrote FF FF where the candidate wrote FE FE: both would decode to U+FFFD and match.
    const raw = (name: string, side: string, b: number[], rest: string[]) => {
      const p = join(dir, name);
      const doc = order(side, 'D', 0).replace('"total":0', '"total":"@@"');
      const [head, tail] = doc.split('@@') as [string, string];
      writeFileSync(p, Buffer.concat([Buffer.from(`${rest.join('\n')}\n`), Buffer.from(head), Buffer.from(b), Buffer.from(`${tail}\n${endOf(side, 'D', 1)}\n`)]));
      return p;
    };
    const l = raw('legacy-ff.jsonl', 'legacy', [0xff, 0xff], [order('legacy', 'A', 100), endOf('legacy', 'A', 1)]);
    const c = raw('cand-fe.jsonl', 'candidate', [0xfe, 0xfe], [order('candidate', 'A', 100), endOf('candidate', 'A', 1)]);
    const r = await cli('compare', '--legacy', l, '--candidate', c, '--rules', ignoreAt, '--format', 'json');
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${l}:3: not valid UTF-8`);
    expect(r.err).toContain(`${c}:3: not valid UTF-8`);
    expect(r.err).toMatch(/2 bad line\(s\) left out; the rest was compared/);
    const out = JSON.parse(r.out) as { totals: Record<string, number>; badLines: { file: string; line: number }[] };
    // A compared, D incomplete on both sides (its effect was left out): never a match.
    expect(out.totals).toMatchObject({ compared: 2, match: 1, incomplete: 1 });
    expect(out.badLines.map((b) => [b.file, b.line])).toEqual([
      [l, 3],
      [c, 3],
    ]);
  });

  it('--format json gives totals and the non-matching comparisons', async () => {
    const r = await cli('compare', '--legacy', legacy, '--candidate', candidateBad, '--rules', ignoreAt, '--format', 'json');
    const doc = JSON.parse(r.out);
    expect(doc.totals).toEqual({ compared: 3, match: 1, mismatch: 1, incomplete: 1, inconclusive: 0, error: 0 });
    expect(doc.comparisons.map((c: { shadowId: string }) => c.shadowId)).toEqual(['B', 'C']);
    expect(doc.comparisons[0].findings[0]).toMatchObject({ kind: 'changed', path: 'total', legacy: 200, candidate: 201 });
  });

  it('a JS rules module can canonicalize a rewritten schema and map targets', async () => {
    const cand = file('cand-v2.jsonl', [
      rec('candidate', 'A', { type: 'effect', seq: 0, kind: 'db', target: 'v2.sheets', op: 'insert', key: { _id: 'A' }, before: null, after: { _id: 'A', amounts: { total: 100 } } }),
      endOf('candidate', 'A', 1),
    ]);
    const leg = file('leg-v1.jsonl', [rec('legacy', 'A', { type: 'effect', seq: 0, kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: 'A' }, before: null, after: { _id: 'A', total: 100 } }), endOf('legacy', 'A', 1)]);
    const rules = join(dir, 'rules.cjs');
    writeFileSync(
      rules,
      `module.exports = { targets: [{ match: 'shop.orders', candidateTarget: 'v2.sheets',
         canonicalize: { candidate: (doc) => { doc.total = doc.amounts.total; delete doc.amounts; return doc; } } }] };`,
    );
    const r = await cli('compare', '--legacy', leg, '--candidate', cand, '--rules', rules);
    expect(r.out).toBe('1 compared: 1 match, 0 mismatch, 0 incomplete, 0 error');
    expect(r.code).toBe(0);
  });

  it('a canonicalize function that throws makes that comparison an error, not a crash', async () => {
    const rules = join(dir, 'throwing.cjs');
    writeFileSync(rules, `module.exports = { targets: [{ match: 'shop.orders', canonicalize: { legacy: () => { throw new Error('boom'); } } }] };`);
    const r = await cli('compare', '--legacy', legacy, '--candidate', candidateOk, '--rules', rules);
    expect(r.code).toBe(1);
    expect(r.out).toContain('comparison failed: boom');
  });

  describe('bad input exits 2 with one clear line and no stack trace', () => {
    it.each([
      [['--legacy', join(dir, 'missing.jsonl'), '--candidate', 'x'], 'cannot read --legacy file', 'SHADOWDIFF_IO'],
      [['--legacy', file('trunc.jsonl', ['{"v":1,"type":']), '--candidate', candidateOk], 'trunc.jsonl:1: not valid JSON', 'SHADOWDIFF_BAD_JSON'],
      [['--legacy', file('kind.jsonl', [order('legacy', 'A', 1).replace('"db"', '"disk"')]), '--candidate', candidateOk], 'kind.jsonl:1: field "kind"', 'SHADOWDIFF_BAD_RECORD'],
      [['--legacy', candidateOk, '--candidate', legacy], 'were the files swapped?', 'SHADOWDIFF_BAD_RECORD'],
      [['--legacy', legacy, '--candidate', candidateOk, '--rules', file('r.json', ['{"targets":[{"match":"x","ignore":["a..b"]}]}'])], 'path pattern "a..b"', 'SHADOWDIFF_RULES'],
      [['--legacy', legacy, '--candidate', candidateOk, '--rules', file('r2.json', ['{"targets":[{"match":"x","tolerance":[{"path":"a"}]}]}'])], 'give "absolute", "relative" or both', 'SHADOWDIFF_RULES'],
      [['--legacy', legacy, '--candidate', candidateOk, '--rules', file('r3.json', ['{"ignroe":["a"]}'])], 'r3.json', 'SHADOWDIFF_RULES'],
      [['--legacy', legacy, '--candidate', candidateOk, '--rules', file('r.yaml', ['a: 1'])], 'unsupported extension ".yaml"', 'SHADOWDIFF_RULES'],
      [['--legacy', legacy, '--candidate', candidateOk, '--format', 'xml'], "argument 'xml' is invalid", ''],
      [['--legacy', legacy], "required option '--candidate <file>' not specified", ''],
      [['--legacy', file('empty1.jsonl', ['']), '--candidate', file('empty2.jsonl', [''])], 'nothing was compared', 'SHADOWDIFF_BAD_RECORD'],
      [['--legacy', legacy, '--candidate', file('other-run.jsonl', [order('candidate', 'A', 100).replace('"r1"', '"r2"')])], 'the --legacy file holds run "r1" and the --candidate file run "r2"', 'SHADOWDIFF_BAD_RECORD'],
    ])('%#: %s', async (args, message, code) => {
      const r = await cli('compare', ...(args as string[]));
      expect(r.code).toBe(2);
      expect(r.err).toContain(message);
      if (code) expect(r.err).toContain(`[${code}]`);
      expect(r.err).not.toMatch(/\n\s+at /);
    });
  });
});

describe('shadowdiff worker: settings', () => {
  it('refuses to start without RabbitMQ and MongoDB, saying which variables to set', async () => {
    const r = await cli('worker');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/a worker needs RabbitMQ and MongoDB: set AMQP_URL \(or --amqp-url\) and MONGODB_URL/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('names the setting and its variable when a value is wrong', async () => {
    const r = await cli('worker', '--amqp-url', 'http://x', '--mongodb-url', 'mongodb://127.0.0.1:1');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/setting "amqpUrl" \(env AMQP_URL\): must be a URL starting with amqp:\/\/ or amqps:\/\//);
    const bad = await cli('worker', '--partitions', 'many');
    expect(bad.err).toMatch(/--partitions must be a whole number, got "many"/);
  });
});
