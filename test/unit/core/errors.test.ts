// The error catalogue and docs/errors.md list the same codes (fastify's habit).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, ShadowdiffError } from '../../../core/errors';

describe('error catalogue', () => {
  const doc = readFileSync(join(__dirname, '../../../docs/errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^### (SHADOWDIFF_[A-Z_]+)$/gm)].map((m) => m[1]);

  it('docs/errors.md documents every code, and only those', () => {
    expect(documented.sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it('every message carries its hint and code', () => {
    const err = new ShadowdiffError('SHADOWDIFF_RULES', 'rules.json: bad.');
    expect(err.message).toBe(`rules.json: bad. ${ERRORS.SHADOWDIFF_RULES.hint}`);
    expect(err.code).toBe('SHADOWDIFF_RULES');
    expect(err.source).toBe('caller');
  });
});
