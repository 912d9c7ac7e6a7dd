// The comparison engine's public face: pure functions from records and rules to comparisons.
export { compare, type CompareInput, type CompareOptions, type SideInput } from './compare';
export { FINDING_KINDS, SEVERITIES, VERDICTS, bounded, type Comparison, type Finding, type FindingKind, type PairRef, type Severity, type Verdict } from './finding';
export { DEFAULT_LIMITS, type Limits } from './normalize';
export { compileRules, CompiledRules, layerRules, rulesSchema, type Canonicalize, type Rules, type RulesInput } from './rules';
export { addComparison, emptyRollup, mergeRollups, reasonClass, rollupOf, suggestNoise, type FieldStats, type NoiseSuggestion, type Rollup, type RouteRollup } from './rollup';
