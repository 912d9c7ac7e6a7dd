// Runs every comparison spec vector in test/spec/compare (format: test/spec/README.md).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare } from '../../../compare/engine/compare';
import { compileRules } from '../../../compare/engine/rules';
import { type AbbreviatedSide, expandSide, RUN, SHADOW } from '../../helpers/records';

interface SpecTest {
  description: string;
  rules?: unknown;
  legacy: AbbreviatedSide;
  candidate: AbbreviatedSide;
  secondary?: AbbreviatedSide;
  expect: {
    verdict: string;
    findings?: Record<string, unknown>[];
    noise?: number;
    incomplete?: string[];
    inconclusive?: string[];
    error?: string;
  };
}

const dir = join(__dirname, '../../spec/compare');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe.each(files)('spec %s', (file) => {
  const spec = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { tests: SpecTest[] };
  it.each(spec.tests.map((t) => [t.description, t] as const))('%s', (_name, t) => {
    const result = compare(
      {
        runId: RUN,
        shadowId: SHADOW,
        legacy: expandSide('legacy', t.legacy),
        candidate: expandSide('candidate', t.candidate),
        secondary: t.secondary ? expandSide('secondary', t.secondary) : undefined,
      },
      { now: '2026-11-24T10:00:01.000Z', rules: compileRules(t.rules ?? {}) },
    );
    expect(result.verdict).toBe(t.expect.verdict);
    if (t.expect.findings) {
      const unmatched = [...result.findings];
      for (const want of t.expect.findings) {
        const i = unmatched.findIndex((f) => Object.entries(want).every(([k, v]) => (v === null ? ((f as unknown as Record<string, unknown>)[k] ?? null) === null : JSON.stringify((f as unknown as Record<string, unknown>)[k]) === JSON.stringify(v))));
        if (i < 0) throw new Error(`no finding matches ${JSON.stringify(want)}\nactual: ${JSON.stringify(result.findings, null, 1)}`);
        unmatched.splice(i, 1);
      }
      expect(unmatched).toEqual([]);
    }
    if (t.expect.noise !== undefined) expect(result.noise).toHaveLength(t.expect.noise);
    if (t.expect.incomplete) {
      expect(result.incomplete).toHaveLength(t.expect.incomplete.length);
      t.expect.incomplete.forEach((s, i) => expect(result.incomplete![i]).toContain(s));
    }
    if (t.expect.inconclusive) {
      expect(result.inconclusive).toHaveLength(t.expect.inconclusive.length);
      t.expect.inconclusive.forEach((s, i) => expect(result.inconclusive![i]).toContain(s));
    }
    if (t.expect.error) expect(result.error).toContain(t.expect.error);
  });
});
