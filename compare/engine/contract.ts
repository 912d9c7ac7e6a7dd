// Contract checks: every candidate effect on a target a consumer declared a JSON Schema for is
// validated against it, whether or not legacy did the same. A violation is a `contract` finding
// naming the consumer and the schema path. A violation that legacy's own effects show too is about
// the schema, not the candidate, and is kept as noise. Schemas are compiled once, at load.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019';
import { Ajv2020 } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { EffectKind, EffectRecord } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import { tagOf } from '../../core/tagged';
import type { CompiledConsumers, Consumer } from './consumers';
import { clip, type Finding } from './finding';
import { fieldOf, formatPath, getPath, type Segment } from './path';

type Schema = Record<string, unknown> | boolean;

/**
 * Where a schema can look into a value (guideOf): the properties it names at each level, what it
 * says of array items, or `all` where it may read anything below.
 */
export interface Guide {
  props?: Map<string, Guide>;
  /** `props` as two arrays, for the walk (set by arrays()). */
  names?: string[];
  subs?: Guide[];
  items?: Guide;
  all?: boolean;
}

/** What the check needs of a prepared effect (prepare.ts), by shape: this file is imported by rules.ts. */
export interface ContractEffect {
  readonly kind: EffectKind;
  /** The legacy side's name for the target. */
  readonly target: string;
  readonly seq: number;
  /** The value as compared: after the side's canonicalize function. */
  readonly raw: unknown;
  readonly rec: Pick<EffectRecord, 'op' | 'status' | 'target' | 'key'>;
}

interface Validator {
  /** Stops at the first error: the healthy path. */
  fast: ValidateFunction;
  /** Every error, compiled the first time an effect fails. */
  all?: ValidateFunction;
  schema: Schema;
  /** Where the schema looks (guideOf): only there do tags need converting. */
  guide: Guide;
}

/** Errors a contract finding lists per effect and consumer: a broken event is one story, not 500 findings. */
const MAX_ERRORS = 20;

let engines: { draft7: Ajv; draft2019: Ajv2019; draft2020: Ajv2020 } | undefined;
let enginesAll: typeof engines;

function engine(schema: Schema, allErrors: boolean): Ajv | Ajv2019 | Ajv2020 {
  const make = () => {
    // Strict: an unknown keyword or format in a consumer's schema is a typo to report at load time.
    const options = { allErrors, strict: true, strictTypes: false, strictTuples: false, strictRequired: false, allowUnionTypes: true, validateFormats: true } as const;
    const e = { draft7: new Ajv(options), draft2019: new Ajv2019(options), draft2020: new Ajv2020(options) };
    for (const a of Object.values(e)) addFormats(a);
    return e;
  };
  const set = allErrors ? (enginesAll ??= make()) : (engines ??= make());
  const dialect = typeof schema === 'object' && typeof schema.$schema === 'string' ? schema.$schema : '';
  return dialect.includes('2020-12') ? set.draft2020 : dialect.includes('2019-09') ? set.draft2019 : set.draft7;
}

// Compiled once per schema: by identity for the hot path, and by its JSON text, because a run's
// stored rules are parsed again every few seconds (new objects, the same schema) and Ajv keeps
// every schema object it compiles.
const byIdentity = new WeakMap<object, Validator>();
const byText = new Map<string, Validator>();
const MAX_SCHEMAS = 1000;

/** A consumer's schema, compiled once. */
function validatorFor(schema: Schema, where: string): Validator {
  if (typeof schema === 'object') {
    const hit = byIdentity.get(schema);
    if (hit) return hit;
  }
  const text = JSON.stringify(schema);
  let v = byText.get(text);
  if (!v) {
    let fast: ValidateFunction;
    try {
      fast = engine(schema, false).compile(schema);
    } catch (err) {
      throw new ShadowdiffError('SHADOWDIFF_RULES', `${where}: the schema does not compile: ${(err as Error).message}. Fix the schema (ajv, JSON Schema draft-07 unless "$schema" names 2019-09 or 2020-12).`, { where });
    }
    v = { fast, schema, guide: guideOf(schema) };
    if (byText.size < MAX_SCHEMAS) byText.set(text, v);
  }
  if (typeof schema === 'object') byIdentity.set(schema, v);
  return v;
}

/** The consumers' schemas by target, compiled. */
export class Contracts {
  /** Whether any consumer declared a schema: without one the engine skips this step entirely. */
  readonly any: boolean;

  constructor(private readonly consumers: CompiledConsumers) {
    let any = false;
    for (const c of consumers.list) {
      c.reads.forEach((r, i) => {
        if (r.schema === undefined) return;
        any = true;
        validatorFor(r.schema, `consumer "${c.name}" reads[${i}] (${r.target})`);
      });
    }
    this.any = any;
  }

  /**
   * Contract findings for the candidate's effects, and those legacy's own effects on the target
   * break the same way (noise: the schema disagrees with today's system, not with the rewrite).
   */
  check(candidate: readonly ContractEffect[], legacy: readonly ContractEffect[]): { findings: Finding[]; noise: Finding[] } {
    const findings: Finding[] = [];
    const noise: Finding[] = [];
    if (!this.any) return { findings, noise };
    for (const p of candidate) {
      const reads = this.consumers.readsOf(p.kind, p.target);
      if (reads.length === 0) continue;
      const value = contractValue(p);
      if (value === SKIP) continue;
      for (const { consumer, read } of reads) {
        if (read.schema === undefined) continue;
        const v = validatorFor(read.schema, consumer.name);
        const plain = p.kind === 'db' ? plainFor(value, v.guide) : value;
        if (v.fast(plain)) continue;
        v.all ??= engine(v.schema, true).compile(v.schema);
        v.all(plain);
        const errors = (v.all.errors ?? v.fast.errors ?? []).slice(0, MAX_ERRORS);
        const legacyErrors = legacySignatures(legacy, p, v);
        for (const e of errors) {
          const f = contractFinding(p, consumer, e, plain, value);
          if (legacyErrors.has(signature(e, plain))) noise.push({ ...f, reason: `${f.reason}; legacy's effects break it the same way` });
          else findings.push(f);
        }
      }
    }
    return { findings, noise };
  }
}

const SKIP = Symbol('skip');

/** What a consumer reads of an effect: the document written, the message or call payload, the response. */
function contractValue(p: ContractEffect): unknown {
  if (p.rec.status === 'failed') return SKIP;
  if (p.kind === 'db') {
    if (p.rec.op === 'delete') return SKIP;
    return p.raw !== null && typeof p.raw === 'object' ? p.raw : SKIP;
  }
  return p.raw === undefined ? SKIP : p.raw;
}

/** The failures legacy's effects on the same target show under the same schema, as signatures. */
function legacySignatures(legacy: readonly ContractEffect[], p: ContractEffect, v: Validator): Set<string> {
  const out = new Set<string>();
  for (const l of legacy) {
    if (l.kind !== p.kind || l.target !== p.target) continue;
    const value = contractValue(l);
    if (value === SKIP) continue;
    const plain = l.kind === 'db' ? plainFor(value, v.guide) : value;
    if (v.fast(plain)) continue;
    v.all!(plain);
    for (const e of v.all!.errors ?? []) out.add(signature(e, plain));
  }
  return out;
}

function signature(e: ErrorObject, value: unknown): string {
  return `${e.schemaPath}\u0000${fieldOf(instancePath(e, value))}`;
}

function contractFinding(p: ContractEffect, consumer: Consumer, e: ErrorObject, plain: unknown, value: unknown): Finding {
  const path = instancePath(e, plain);
  const at = getPath(value, path);
  const f: Finding = {
    kind: 'contract',
    severity: consumer.critical ? 'critical' : 'high',
    effectKind: p.kind,
    target: p.target,
    op: p.rec.op,
    path: formatPath(path),
    field: fieldOf(path),
    candidateSeq: p.seq,
    reason: `${consumer.name}: ${path.length ? formatPath(path) : 'the effect'} ${e.message ?? 'does not match'}${allowed(e)}`,
    consumers: [consumer.name],
    schemaPath: e.schemaPath,
  };
  if (at !== undefined) f.candidate = clip(at);
  if (p.rec.target !== p.target) f.candidateTarget = p.rec.target;
  if (p.rec.key !== undefined) f.key = clip(p.rec.key);
  return f;
}

/** An enum's or const's allowed values, for the reader who does not have the schema at hand. */
function allowed(e: ErrorObject): string {
  const params = e.params as { allowedValues?: unknown[]; allowedValue?: unknown };
  if (params.allowedValues) return ` (${JSON.stringify(params.allowedValues).slice(0, 200)})`;
  if ('allowedValue' in params) return ` (${JSON.stringify(params.allowedValue).slice(0, 200)})`;
  return '';
}

/** The failing value's path: the error's JSON Pointer, plus the property a `required` or `additionalProperties` names. */
function instancePath(e: ErrorObject, value: unknown): Segment[] {
  const out: Segment[] = [];
  let cur = value;
  if (e.instancePath !== '') {
    for (const raw of e.instancePath.slice(1).split('/')) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      const seg: Segment = Array.isArray(cur) && /^\d+$/.test(key) ? Number(key) : key;
      out.push(seg);
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string | number, unknown>)[seg] : undefined;
    }
  }
  const params = e.params as { missingProperty?: string; additionalProperty?: string; unevaluatedProperty?: string };
  const named = params.missingProperty ?? params.additionalProperty ?? params.unevaluatedProperty;
  if (typeof named === 'string') out.push(named);
  return out;
}

/**
 * A recorded document as the consumer's JSON sees it: Extended JSON tags become their plain JSON
 * form (a date its ISO string, an ObjectId its hex, a long or double a number, a decimal its
 * string), wherever the schema looks (the guide); elsewhere the value is left as it is, since
 * nothing reads it. Unchanged parts are shared, not copied.
 */
export function plainFor(value: unknown, guide: Guide, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 300) return value;
  if (guide.all) return untagged(value, depth);
  if (Array.isArray(value)) {
    const items = guide.items;
    if (!items) return value;
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const was: unknown = value[i];
      if (was === null || typeof was !== 'object') continue;
      const v = plainFor(was, items, depth + 1);
      if (v !== was) (out ??= value.slice())[i] = v;
    }
    return out ?? value;
  }
  const obj = value as Record<string, unknown>;
  const names = guide.names;
  let out: Record<string, unknown> | undefined;
  let found = false;
  if (names) {
    const subs = guide.subs!;
    for (let i = 0; i < names.length; i++) {
      const key = names[i]!;
      const was = obj[key];
      if (was === undefined) continue;
      found = true;
      // Own properties only (`__proto__` reads the prototype); primitives need no look.
      if (was === null || typeof was !== 'object' || !Object.prototype.hasOwnProperty.call(obj, key)) continue;
      const v = plainFor(was, subs[i]!, depth + 1);
      if (v !== was) (out ??= { ...obj })[key] = v;
    }
  }
  // An object holding a property the schema names is no tag (a tag's one key starts with `$`).
  if (!found && firstKeyIsDollar(obj)) {
    const tag = tagOf(obj);
    if (tag) return plainTag(obj, tag);
  }
  return out ?? value;
}

/** Every tag below, converted (plainFor where the schema may read anything). */
export function untagged(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 300) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const was: unknown = value[i];
      if (was === null || typeof was !== 'object') continue;
      const v = untagged(was, depth + 1);
      if (v !== was) (out ??= value.slice())[i] = v;
    }
    return out ?? value;
  }
  const obj = value as Record<string, unknown>;
  const tag = firstKeyIsDollar(obj) ? tagOf(obj) : undefined;
  if (tag) return plainTag(obj, tag);
  let out: Record<string, unknown> | undefined;
  for (const key in obj) {
    const was = obj[key];
    if (was === null || typeof was !== 'object') continue;
    const v = untagged(was, depth + 1);
    if (v !== was) (out ??= { ...obj })[key] = v;
  }
  return out ?? value;
}

function firstKeyIsDollar(obj: object): boolean {
  for (const key in obj) return key.charCodeAt(0) === 36; /* $ */
  return false;
}

const LEAF: Guide = {};
const ALL: Guide = { all: true };

/** The guide with each level's properties as arrays, for a walk without iterators. */
function arrays(g: Guide): Guide {
  if (g === LEAF || g === ALL || g.all) return g;
  const out: Guide = {};
  if (g.props) {
    out.names = [...g.props.keys()];
    out.subs = [...g.props.values()].map(arrays);
  }
  if (g.items) out.items = arrays(g.items);
  return out;
}

/**
 * Where a schema can look: `properties` (and the names `required` and the dependent keywords
 * list) at each level, `items` and its relatives for array elements, the applicators (`allOf`,
 * `if`/`then`…) merged into their level. A `$ref`, a schema for keys it does not name
 * (`additionalProperties`, `patternProperties`, `unevaluatedProperties`), or an object inside
 * `const` or `enum` may read anything below: `all` there.
 */
export function guideOf(schema: unknown): Guide {
  return arrays(guideBuild(schema, 0));
}

function guideBuild(schema: unknown, depth: number): Guide {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return LEAF;
  if (depth > 100) return ALL;
  let g: Guide = {};
  const prop = (name: string, sub: Guide) => {
    const props = (g.props ??= new Map());
    props.set(name, merge(props.get(name), sub));
  };
  for (const [k, v] of Object.entries(schema as Record<string, unknown>)) {
    switch (k) {
      case 'properties':
        if (v && typeof v === 'object') for (const [name, sub] of Object.entries(v)) prop(name, guideBuild(sub, depth + 1));
        break;
      case 'dependentSchemas':
        // Applies at this level when the property is present.
        if (v && typeof v === 'object') {
          for (const [name, sub] of Object.entries(v)) {
            prop(name, LEAF);
            g = merge(g, guideBuild(sub, depth + 1));
          }
        }
        break;
      case 'required':
        if (Array.isArray(v)) for (const name of v) if (typeof name === 'string') prop(name, LEAF);
        break;
      case 'dependentRequired':
      case 'dependencies':
        if (v && typeof v === 'object') {
          for (const [name, sub] of Object.entries(v)) {
            prop(name, LEAF);
            if (Array.isArray(sub)) {
              for (const n of sub) if (typeof n === 'string') prop(n, LEAF);
            } else g = merge(g, guideBuild(sub, depth + 1));
          }
        }
        break;
      case 'items':
      case 'additionalItems':
      case 'contains':
      case 'unevaluatedItems':
        g.items = merge(g.items, Array.isArray(v) ? v.reduce<Guide>((m, s) => merge(m, guideBuild(s, depth + 1)), {}) : guideBuild(v, depth + 1));
        break;
      case 'prefixItems':
        if (Array.isArray(v)) for (const s of v) g.items = merge(g.items, guideBuild(s, depth + 1));
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        if (Array.isArray(v)) for (const s of v) g = merge(g, guideBuild(s, depth + 1));
        break;
      case 'not':
      case 'if':
      case 'then':
      case 'else':
        g = merge(g, guideBuild(v, depth + 1));
        break;
      case '$ref':
      case '$dynamicRef':
      case '$recursiveRef':
      case 'patternProperties':
        return ALL;
      case 'additionalProperties':
      case 'unevaluatedProperties':
        if (typeof v === 'object') return ALL;
        break;
      case 'const':
      case 'enum':
        if (v !== null && typeof v === 'object' && JSON.stringify(v).includes('{')) return ALL;
        break;
    }
  }
  return g;
}

function merge(a: Guide | undefined, b: Guide): Guide {
  if (!a || a === LEAF) return b === LEAF ? LEAF : b;
  if (b === LEAF) return a;
  if (a.all || b.all) return ALL;
  const out: Guide = {};
  if (a.items || b.items) out.items = a.items && b.items ? merge(a.items, b.items) : (a.items ?? b.items)!;
  if (a.props || b.props) {
    out.props = new Map(a.props);
    for (const [k, v] of b.props ?? []) out.props.set(k, merge(out.props.get(k), v));
  }
  return out;
}

function plainTag(v: Record<string, unknown>, tag: NonNullable<ReturnType<typeof tagOf>>): unknown {
  switch (tag) {
    case 'objectId':
      return v.$oid;
    case 'date': {
      const d = v.$date;
      if (typeof d === 'string') return d;
      const ms = typeof d === 'number' ? d : Number((d as { $numberLong?: string } | null)?.$numberLong);
      return Number.isFinite(ms) ? new Date(ms).toISOString() : d;
    }
    case 'long':
    case 'double':
      return Number(v.$numberLong ?? v.$numberDouble);
    case 'decimal':
      return v.$numberDecimal;
    case 'uuid':
      return v.$uuid;
    case 'binary':
      return (v.$binary as { base64?: string } | null)?.base64 ?? v.$binary;
    case 'timestamp':
      return v.$timestamp;
  }
}
