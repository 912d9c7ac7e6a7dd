// The `shadowdiff` package: the effect format and the comparison engine. The SDK will be
// `shadowdiff/sdk`; everything else is internal.
export { effectRecordSchema, endRecordSchema, exchangeRecordSchema, parseRecord, FORMAT_VERSION, type EffectRecord, type EndRecord, type ExchangeRecord, type SideRecord, type ShadowRecord, type Side, type EffectKind } from './core/effect';
export { ShadowdiffError, ERRORS, type ErrorCode } from './core/errors';
export { readRecords } from './core/jsonl';
export {
  compare,
  compileRules,
  addComparison,
  emptyRollup,
  mergeRollups,
  rollupOf,
  suggestNoise,
  type Comparison,
  type CompareInput,
  type Finding,
  type FindingKind,
  type Rollup,
  type RulesInput,
  type Verdict,
} from './compare/engine';
export { Join, isReady } from './compare/join';
export { compareFiles } from './pipeline/offline';
