// The effect format as JSON Schema (draft 2020-12), generated from the zod schemas, for
// services in other languages. docs/effect-format.schema.json is this output; a test keeps it current.
import { z } from 'zod';
import { endRecordSchema, effectRecordSchema, exchangeRecordSchema } from './effect';

/** @public */
export function effectFormatJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(z.union([effectRecordSchema, endRecordSchema, exchangeRecordSchema]), { target: 'draft-2020-12', unrepresentable: 'any' });
  return {
    $id: 'urn:shadowdiff:effect-format:1',
    title: 'shadowdiff effect format v1',
    description: 'One record per bus message or JSONL line: an effect a side performed (or would have, in dry-run), the end marker closing one side of one shadow id, or the exchange a recorder (proxy, replay) saw for it. See docs/effect-format.md.',
    ...schema,
  };
}
