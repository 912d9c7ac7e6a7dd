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

  it('every error carries its code, source, status and hint, apart from the message', () => {
    const err = new ShadowdiffError('SHADOWDIFF_RULES', 'rules.json: bad.');
    expect(err.message).toBe('rules.json: bad.');
    expect(err.hint).toBe(ERRORS.SHADOWDIFF_RULES.hint);
    expect(err.full).toBe(`rules.json: bad. ${ERRORS.SHADOWDIFF_RULES.hint}`);
    expect(err.code).toBe('SHADOWDIFF_RULES');
    expect(err.source).toBe('caller');
    expect(err.status).toBe(400);
    expect(new ShadowdiffError('SHADOWDIFF_NOT_FOUND', 'no run "x".').status).toBe(404);
    expect(new ShadowdiffError('SHADOWDIFF_STORE', 'down.').status).toBe(503);
  });

  it('docs/errors.md gives each code its source and HTTP status', () => {
    for (const [code, entry] of Object.entries(ERRORS)) expect(doc).toContain(`### ${code}\n*${entry.source}*, HTTP ${entry.status} — `);
  });
});
