// docs/effect-format.schema.json is generated from the zod schemas; this keeps it current.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { effectFormatJsonSchema } from '../../../core/schema';

it('docs/effect-format.schema.json matches the zod schemas (regenerate: npm run docs:schema)', () => {
  const committed = JSON.parse(readFileSync(join(__dirname, '../../../docs/effect-format.schema.json'), 'utf8'));
  expect(committed).toEqual(effectFormatJsonSchema());
});
