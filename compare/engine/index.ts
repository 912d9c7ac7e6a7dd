// The comparison engine's public face: pure functions from records and rules to comparisons.
// Code outside compare/engine imports it through this file only (test/unit/architecture.test.ts).
//
// One concept per file: compare.ts runs a comparison; input.ts, completeness.ts (is each side
// whole?), exchange.ts (the recorded responses), prestate.ts (did both start alike?),
// pairing.ts and idmap.ts (which effect is which), prepare.ts, rules.ts, finding.ts, rollup.ts.
//
// Three walkers must agree, and a rule changed in one is changed in all three:
// - normalize.ts turns a value into its canonical form under the rules (ignored paths, ids,
//   tolerances, canonicalize functions);
// - fast-equal.ts answers "equal" without normalizing, for the common case: it may only ever
//   say "equal" where normalizing both sides would give equal values, and otherwise defers;
// - diff.ts lists the differences of two normalized values, path by path.
// The property tests (test/unit/compare/properties.test.ts, fast-equal.test.ts) check them
// against each other.
export { compare, type CompareInput, type CompareOptions, type SideInput } from './compare';
export { FINDING_KINDS, SEVERITIES, SEVERITY_RANK, VERDICTS, bounded, clipJson, type Comparison, type Finding, type FindingKind, type PairRef, type Severity, type Verdict } from './finding';
export { CompiledConsumers, consumersFileSchema, consumerSchema, type Consumer, type ConsumerInput, type EffectKindOrEnd } from './consumers';
export { DEFAULT_LIMITS, type Limits } from './normalize';
export { compileRules, CompiledRules, globMatch, layerRules, rulesSchema, type Canonicalize, type Rules, type RulesInput } from './rules';
export { addComparison, countTargets, emptyRollup, looksLikeNoise, mergeRollups, NOISE_THRESHOLDS, reasonClass, rollupOf, suggestNoise, type ExamplePair, type FieldStats, type NoiseSuggestion, type NoiseThresholds, type Rollup, type RouteRollup } from './rollup';
export { deepEqual } from './equal';
export { getPath, parsePattern, type Path } from './path';
