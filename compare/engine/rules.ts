// Rules shape a comparison: which targets correspond across a schema change, how effects are
// keyed, and what is normalized away (ignored paths, tolerances, unordered arrays, string
// folding, per-side canonicalize functions). docs/rules.md is the reference.
import { z } from 'zod';
import { EFFECT_KINDS, type EffectKind, type Side } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import { checkConsumerNames, CompiledConsumers, consumerSchema } from './consumers';
import { Contracts } from './contract';
import { globMatch } from './glob';
import { parsePattern, PatternSet } from './path';
import { READABLE } from '../../core/issues';

export { globMatch };

/** Rewrites one side's value before any other rule: the hook for a changed schema. */
export type Canonicalize = (value: unknown, context: { kind: EffectKind; target: string; op: string; side: Side }) => unknown;

const pattern = z.string().min(1);
const canonicalize = z.custom<Canonicalize>((v) => typeof v === 'function', { message: 'must be a function' });

/** A route as comparisons name it (`POST /api/articles`), or a glob with `*` (`* /api/articles/*`). */
const routePattern = z.string().min(1).max(500);

export const targetRuleSchema = z.strictObject({
  /** Target name on the legacy side, or a glob with `*` (`shop.*`, `orders/*`). */
  match: z.string().min(1),
  /** Only on this route (or routes matching the glob); default: every route. */
  route: routePattern.optional(),
  kind: z.enum(EFFECT_KINDS).optional(),
  /** The candidate's name for this target, when the rewrite renamed it (exact names only). */
  candidateTarget: z.string().min(1).optional(),
  /** Business key path(s) pairing effects across sides, e.g. "orderNo"; default: the document key. */
  key: z.union([pattern, z.array(pattern).min(1)]).optional(),
  ignore: z.array(pattern).optional(),
  tolerance: z
    .array(
      z
        .strictObject({
          path: pattern,
          absolute: z.number().nonnegative().optional(),
          relative: z.number().nonnegative().optional(),
        })
        .refine((t) => t.absolute !== undefined || t.relative !== undefined, 'give "absolute", "relative" or both'),
    )
    .optional(),
  /** Arrays compared regardless of order: as sets, or sorted by the field `by`. */
  unordered: z.array(z.strictObject({ path: pattern, by: pattern.optional() })).optional(),
  strings: z
    .array(z.strictObject({ path: pattern, trim: z.boolean().optional(), caseInsensitive: z.boolean().optional() }))
    .optional(),
  canonicalize: z.strictObject({ legacy: canonicalize.optional(), candidate: canonicalize.optional() }).optional(),
});

export const rulesSchema = z.strictObject({
  version: z.literal(1).default(1),
  /** Paths ignored on every target: a path, or a path on one route (`{ path, route }`). */
  ignore: z.array(z.union([pattern, z.strictObject({ path: pattern, route: routePattern })])).default([]),
  /**
   * Database names that are the same database: each group's names are read as its first, on both
   * sides (a CI replay into `shop_ci` compares with the recording's `shop`). Rules name targets by
   * the first name.
   */
  databases: z.array(z.array(z.string().min(1).max(200)).min(2)).default([]),
  targets: z.array(targetRuleSchema).default([]),
  /** Who reads the data, and what they expect of it (consumers.ts, docs/consumers.md). */
  consumers: z.array(consumerSchema).max(500).default([]),
  /**
   * Cutover corrections (docs/cutover.md): maps a correction into the live side's schema where
   * canonicalize rules made the sides' differ; returns it changed, or null where it cannot be.
   * Used by `shadowdiff corrections`; a JS/TS rules file only.
   */
  correct: z.custom<(correction: never) => unknown>((v) => typeof v === 'function', { message: 'must be a function' }).optional(),
});

export type TargetRule = z.infer<typeof targetRuleSchema>;
export type RulesInput = z.input<typeof rulesSchema>;
export type Rules = z.infer<typeof rulesSchema>;

/** The rules that apply to one (kind, target), compiled for the walk. */
export interface TargetRules {
  readonly target: string;
  readonly candidateTarget: string;
  readonly key: readonly (readonly (string | number)[])[] | undefined;
  readonly ignore: PatternSet;
  readonly tolerance: PatternSet;
  readonly tolerances: readonly { absolute: number; relative: number }[];
  readonly unordered: PatternSet;
  readonly unorderedBy: readonly ((string | number)[] | undefined)[];
  readonly strings: PatternSet;
  readonly stringRules: readonly { trim: boolean; caseInsensitive: boolean }[];
  readonly canonicalize: { legacy?: Canonicalize; candidate?: Canonicalize };
  /** True when no rule changes values: normalization only canonicalizes typed values. */
  readonly plain: boolean;
}

export class CompiledRules {
  readonly source: Rules;
  private readonly byTarget = new Map<EffectKind, Map<string, TargetRules>>();
  private readonly candidateToLegacy = new Map<string, string>();
  /** Database name → the first name of its group. */
  private readonly databaseOf = new Map<string, string>();
  /** Whether any entry is limited to a route (forRoute has work to do). */
  private readonly routeScoped: boolean;
  private readonly byRoute = new Map<string, CompiledRules>();
  /** The ignores that apply on every route (route-limited ones are resolved by forRoute). */
  private readonly globalIgnores: string[];
  /** Who reads each target and field; shared by every route's rules. */
  readonly consumers: CompiledConsumers;
  readonly contracts: Contracts;

  constructor(rules: Rules, shared?: Pick<CompiledRules, 'consumers' | 'contracts'>) {
    this.source = rules;
    if (shared) {
      this.consumers = shared.consumers;
      this.contracts = shared.contracts;
    } else {
      checkConsumerNames(rules.consumers, 'rules');
      this.consumers = new CompiledConsumers(rules.consumers);
      this.contracts = new Contracts(this.consumers);
    }
    this.globalIgnores = rules.ignore.filter((i): i is string => typeof i === 'string');
    for (const group of rules.databases) for (const name of group.slice(1)) if (!this.databaseOf.has(name)) this.databaseOf.set(name, group[0]!);
    this.routeScoped = rules.targets.some((t) => t.route !== undefined) || rules.ignore.some((i) => typeof i !== 'string');
    for (const t of rules.targets) {
      if (t.candidateTarget !== undefined) {
        if (t.match.includes('*')) {
          throw new ShadowdiffError('SHADOWDIFF_RULES', `target "${t.match}": candidateTarget needs an exact target name, not a glob.`);
        }
        this.candidateToLegacy.set(mapKey(t.kind, t.candidateTarget), t.match);
      }
    }
    // Compile every pattern now so that a bad one fails at load time, not mid-run.
    for (const t of rules.targets) compileTarget(t.match, [t], this.globalIgnores);
  }

  /**
   * The rules for one route: the entries without a route and those whose route matches. The same
   * object when no entry names a route.
   */
  forRoute(route: string): CompiledRules {
    if (!this.routeScoped) return this;
    let scoped = this.byRoute.get(route);
    if (!scoped) {
      const { ignore, targets } = this.source;
      scoped = new CompiledRules({
        ...this.source,
        ignore: ignore.flatMap((i) => (typeof i === 'string' ? [i] : globMatch(i.route, route) ? [i.path] : [])),
        targets: targets.filter((t) => t.route === undefined || globMatch(t.route, route)).map(({ route: _r, ...t }) => t),
      }, this);
      if (this.byRoute.size < 10_000) this.byRoute.set(route, scoped);
    }
    return scoped;
  }

  /** A db target under the first name of its database's group (`shop_ci.orders` → `shop.orders`). */
  canonicalTarget(kind: EffectKind, target: string): string {
    if (kind !== 'db' || this.databaseOf.size === 0) return target;
    const dot = target.indexOf('.');
    const db = dot > 0 ? this.databaseOf.get(target.slice(0, dot)) : undefined;
    return db === undefined ? target : `${db}${target.slice(dot)}`;
  }

  /** The legacy-side name of a candidate target (identity when not mapped). */
  legacyTarget(kind: EffectKind, candidateTarget: string): string {
    if (this.candidateToLegacy.size === 0) return candidateTarget;
    return this.candidateToLegacy.get(mapKey(kind, candidateTarget)) ?? this.candidateToLegacy.get(mapKey(undefined, candidateTarget)) ?? candidateTarget;
  }

  forTarget(kind: EffectKind, target: string): TargetRules {
    let perKind = this.byTarget.get(kind);
    if (!perKind) this.byTarget.set(kind, (perKind = new Map()));
    let compiled = perKind.get(target);
    if (!compiled) {
      const matching = this.source.targets.filter((t) => (t.kind === undefined || t.kind === kind) && globMatch(t.match, target));
      compiled = compileTarget(target, matching, this.globalIgnores);
      if (perKind.size < 10_000) perKind.set(target, compiled);
    }
    return compiled;
  }
}

function mapKey(kind: EffectKind | undefined, target: string): string {
  return `${kind ?? '*'} ${target}`;
}

/**
 * Validates a rules object (from JSON or a JS config) and compiles it.
 * @public
 */
export function compileRules(input: unknown = {}, where = 'rules'): CompiledRules {
  const parsed = rulesSchema.safeParse(input, READABLE);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? issue.path.join('.') : '(rules)';
    throw new ShadowdiffError('SHADOWDIFF_RULES', `${where}: field "${field}": ${issue.message}.`, { where, field });
  }
  try {
    return new CompiledRules(parsed.data);
  } catch (err) {
    // A duplicate consumer or a schema that does not compile: say which file.
    if (err instanceof ShadowdiffError && err.code === 'SHADOWDIFF_RULES' && !err.message.startsWith(where)) {
      throw new ShadowdiffError('SHADOWDIFF_RULES', `${where}: ${err.message.replace(/^rules: /, '')}`, { ...err.detail, where });
    }
    throw err;
  }
}

/**
 * A run's stored rules (edited in the report: "mark as expected") over the rules a worker was
 * started with (a file, perhaps with canonicalize functions that cannot be stored): the stored
 * entries come first, so where both name a key, a candidateTarget or a canonicalize function
 * the stored one wins, and every matching entry of either adds its ignores and tolerances.
 */
export function layerRules(base: CompiledRules | undefined, stored: CompiledRules): CompiledRules {
  if (!base) return stored;
  return new CompiledRules({
    ...base.source,
    ignore: [...stored.source.ignore, ...base.source.ignore],
    databases: [...stored.source.databases, ...base.source.databases],
    targets: [...stored.source.targets, ...base.source.targets],
    // A consumer the run's stored rules declare replaces the base's of the same name.
    consumers: [...stored.source.consumers, ...base.source.consumers.filter((c) => !stored.source.consumers.some((s) => s.name === c.name))],
  });
}

/** No rules at all: normalization only canonicalizes typed values. */
export const PLAIN_RULES: TargetRules = compileTarget('*', [], []);

// All matching entries contribute their lists; the first one that names a key or a
// candidateTarget decides those (put specific entries before globs).
function compileTarget(target: string, entries: readonly TargetRule[], globalIgnore: readonly string[]): TargetRules {
  const ignore = [...globalIgnore];
  const tolerance: { path: string; absolute: number; relative: number }[] = [];
  const unordered: { path: string; by?: string }[] = [];
  const strings: { path: string; trim: boolean; caseInsensitive: boolean }[] = [];
  let key: string[] | undefined;
  let candidateTarget: string | undefined;
  const canon: { legacy?: Canonicalize; candidate?: Canonicalize } = {};
  for (const e of entries) {
    ignore.push(...(e.ignore ?? []));
    for (const t of e.tolerance ?? []) tolerance.push({ path: t.path, absolute: t.absolute ?? 0, relative: t.relative ?? 0 });
    unordered.push(...(e.unordered ?? []));
    for (const s of e.strings ?? []) strings.push({ path: s.path, trim: s.trim ?? false, caseInsensitive: s.caseInsensitive ?? false });
    key ??= e.key === undefined ? undefined : Array.isArray(e.key) ? e.key : [e.key];
    candidateTarget ??= e.candidateTarget;
    canon.legacy ??= e.canonicalize?.legacy;
    canon.candidate ??= e.canonicalize?.candidate;
  }
  const plain = ignore.length + unordered.length + strings.length === 0 && !canon.legacy && !canon.candidate;
  return {
    target,
    candidateTarget: candidateTarget ?? target,
    key: key?.map(literalPath),
    ignore: new PatternSet(ignore),
    tolerance: new PatternSet(tolerance.map((t) => t.path)),
    tolerances: tolerance,
    unordered: new PatternSet(unordered.map((u) => u.path)),
    unorderedBy: unordered.map((u) => (u.by === undefined ? undefined : literalPath(u.by))),
    strings: new PatternSet(strings.map((s) => s.path)),
    stringRules: strings,
    canonicalize: canon,
    plain,
  };
}

/** A key path has no wildcards: `customer.id`, `lines[0].sku`. */
function literalPath(text: string): (string | number)[] {
  return parsePattern(text).map((seg) => {
    if (seg.t === 'key') return seg.key;
    if (seg.t === 'index') return seg.index;
    throw new ShadowdiffError('SHADOWDIFF_RULES', `key path "${text}" may not contain wildcards.`);
  });
}
