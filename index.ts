// The `shadowdiff` package, exported on purpose (each name marked @public where it is declared):
// - the effect format: its version, schemas, a record validator and a JSONL reader;
// - the comparison engine: compare() and compileRules(), and compareFiles() for two JSONL files;
// - the errors, with their catalogue.
// The SDK is `shadowdiff/sdk` (capture/sdk/index.ts). Everything else is internal and may change
// without notice; test/unit/exports.test.ts pins both lists.
export {
  FORMAT_VERSION,
  effectRecordSchema,
  endRecordSchema,
  exchangeRecordSchema,
  parseRecord,
  type EffectKind,
  type EffectRecord,
  type EndRecord,
  type ExchangeRecord,
  type ShadowRecord,
  type Side,
  type SideRecord,
} from './core/effect';
export { effectFormatJsonSchema } from './core/schema';
export { readRecords } from './core/jsonl';
export { compare, compileRules, type CompareInput, type CompareOptions, type Comparison, type Finding, type FindingKind, type RulesInput, type SideInput, type Verdict } from './compare/engine';
export { compareFiles, type OfflineOptions, type OfflineResult } from './pipeline/offline';
export { ERRORS, ShadowdiffError, isCallerError, type ErrorCode, type ErrorSource } from './core/errors';
