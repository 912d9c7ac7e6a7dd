// What the packages export, pinned: `shadowdiff` (the format, the engine, the errors) and
// `shadowdiff/sdk`. A name added or removed here is a change of the public API: say so in
// the changelog and the docs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as sdk from '../../capture/sdk';
import * as root from '../../index';

const ROOT = join(__dirname, '../..');

describe('public API', () => {
  it('shadowdiff exports the format, the engine and the errors, and nothing else', () => {
    expect(Object.keys(root).sort()).toEqual([
      'ERRORS',
      'FORMAT_VERSION',
      'ShadowdiffError',
      'compare',
      'compareFiles',
      'compileRules',
      'effectFormatJsonSchema',
      'effectRecordSchema',
      'endRecordSchema',
      'exchangeRecordSchema',
      'isCallerError',
      'parseRecord',
      'readRecords',
    ]);
  });

  it('shadowdiff/sdk exports createShadow and the environment reader', () => {
    expect(Object.keys(sdk).sort()).toEqual(['createShadow', 'sdkOptionsFromEnv']);
  });

  it('the package maps exactly those two entry points', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown>; main: string };
    expect(Object.keys(pkg.exports).sort()).toEqual(['.', './package.json', './sdk']);
    expect(pkg.main).toBe('dist/index.js');
  });

  it('every value shadowdiff exports is marked @public where it is declared', () => {
    const declared = ['core/effect.ts', 'core/schema.ts', 'core/jsonl.ts', 'compare/engine/compare.ts', 'compare/engine/rules.ts', 'pipeline/offline.ts', 'core/errors.ts'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n');
    for (const name of Object.keys(root)) {
      const at = new RegExp(`@public\\s*\\*/\\s*export (?:async )?(?:function\\*? |const |class )${name}\\b`);
      expect([name, at.test(declared)]).toEqual([name, true]);
    }
  });
});
