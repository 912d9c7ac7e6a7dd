// The effect format as JSON Schema (draft 2020-12), generated from the zod schemas, for
// services in other languages. docs/effect-format.schema.json is this output; a test keeps it current.
import { z } from 'zod';
import { endRecordSchema, effectRecordSchema, exchangeRecordSchema } from './effect';

/** @public */
export function effectFormatJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(z.union([effectRecordSchema, endRecordSchema, exchangeRecordSchema]), { target: 'draft-2020-12', unrepresentable: 'any' }) as { anyOf: Record<string, unknown>[] };
  // What the effect schema's refinement says of `undo`, which zod cannot put in JSON Schema:
  // format 2 only, on an update or replace of a document, instead of `before`.
  schema.anyOf[0]!.dependentSchemas = {
    undo: { properties: { v: { const: 2 }, op: { enum: ['update', 'replace'] }, after: { type: 'object' } }, not: { required: ['before'] } },
  };
  return {
    $id: 'urn:shadowdiff:effect-format:2',
    title: 'shadowdiff effect format, versions 1 and 2',
    description: 'One record per bus message or JSONL line: an effect a side performed (or would have, in dry-run), the end marker closing one side of one shadow id, or the exchange a recorder (proxy, replay) saw for it. See docs/effect-format.md.',
    ...schema,
  };
}
