// Who reads the data: the consumers a rules file declares, each with the targets and fields it
// reads. A finding names the consumers whose fields it touches, and its severity follows them:
// up where someone reads the field (critical for a critical consumer), down where the target's
// consumers are all known and none reads it. docs/consumers.md is the reference.
import { z } from 'zod';
import { EFFECT_KINDS, type EffectKind } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import { type Finding, type Severity } from './finding';
import { globMatch } from './glob';
import { parsePattern, PatternSet, type Segment, type State } from './path';

/** A name used in report URLs and webhook payloads: letters, digits, `.`, `_` and `-`. */
const consumerName = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" and "-" (it names the consumer in report URLs)');

/** A field path a consumer reads: a rules pattern without array positions (`lines[*].sku`, `delivery.*`, `**`). */
const readPath = z
  .string()
  .min(1)
  .max(500)
  .superRefine((p, ctx) => {
    try {
      if (parsePattern(p).some((s) => s.t === 'index')) ctx.addIssue({ code: 'custom', message: `"${p}" names an array position: use [*] (a consumer reads a field of every item)` });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/\.$/, '') });
    }
  });

export const consumerReadSchema = z.strictObject({
  /** A target as findings name it (legacy's name), or a glob with `*`: `shop.orders`, `demo.orders/order.*`. */
  target: z.string().min(1).max(500),
  kind: z.enum(EFFECT_KINDS).optional(),
  /** The fields it uses; absent: the whole effect. */
  paths: z.array(readPath).min(1).max(500).optional(),
  /** What it expects of the candidate's effects on the target: a JSON Schema (draft 2020-12 or 07). */
  schema: z.union([z.record(z.string(), z.unknown()), z.boolean()]).optional(),
});

export const consumerSchema = z.strictObject({
  name: consumerName,
  /** The team or person who owns it: who is told. */
  owner: z.string().min(1).max(200),
  /** How to reach them (an address, a channel). */
  contact: z.string().min(1).max(500).optional(),
  /** Alerts whose findings touch this consumer are POSTed here too. */
  webhook: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
  /** A finding on a field it reads is critical (and alerts at once). */
  critical: z.boolean().default(false),
  reads: z.array(consumerReadSchema).min(1).max(200),
  /** Free text: where the entry came from (`consumers discover` says what it saw). */
  note: z.string().max(2000).optional(),
});

export type ConsumerInput = z.input<typeof consumerSchema>;
export type Consumer = z.infer<typeof consumerSchema>;
export type ConsumerRead = z.infer<typeof consumerReadSchema>;
/** A finding's effect kind: an effect's, or `end` for the status its end marker gave. */
export type EffectKindOrEnd = EffectKind | 'end';

/** A consumers file on its own: `{ "version": 1, "consumers": [...] }` (a rules file may hold the same list). */
export const consumersFileSchema = z.strictObject({
  version: z.literal(1).default(1),
  consumers: z.array(consumerSchema).max(500),
});

/** Names are unique (they are URLs and webhook routes); found at load time, not mid-run. */
export function checkConsumerNames(consumers: readonly Consumer[], where: string): void {
  const seen = new Set<string>();
  for (const c of consumers) {
    if (seen.has(c.name)) throw new ShadowdiffError('SHADOWDIFF_RULES', `${where}: consumer "${c.name}" is declared twice; give each consumer one entry with all it reads.`, { where, field: 'consumers' });
    seen.add(c.name);
  }
}

interface CompiledRead {
  consumer: Consumer;
  read: ConsumerRead;
  /** Absent: the whole effect. */
  paths?: PatternSet;
}

/** What a finding's (kind, target, field) touches: cached, the same for every request. */
interface Impact {
  /** The target has declared consumers (so "nobody reads it" means something). */
  declared: boolean;
  consumers: string[];
  critical: boolean;
}

const STEP_UP: Record<Severity, Severity> = { critical: 'critical', high: 'high', medium: 'high', low: 'medium' };
const STEP_DOWN: Record<Severity, Severity> = { critical: 'high', high: 'medium', medium: 'low', low: 'low' };

export class CompiledConsumers {
  readonly list: readonly Consumer[];
  private readonly reads: CompiledRead[];
  private readonly byTarget = new Map<string, Map<string, CompiledRead[]>>();
  private readonly impacts = new Map<string, Impact>();

  constructor(consumers: readonly Consumer[]) {
    this.list = consumers;
    this.reads = consumers.flatMap((consumer) => consumer.reads.map((read) => ({ consumer, read, ...(read.paths ? { paths: new PatternSet(read.paths) } : {}) })));
  }

  get size(): number {
    return this.list.length;
  }

  get(name: string): Consumer | undefined {
    return this.list.find((c) => c.name === name);
  }

  /** The declared reads of one (kind, target), in declaration order. */
  readsOf(kind: EffectKind | 'end', target: string): readonly CompiledRead[] {
    let perKind = this.byTarget.get(kind);
    if (!perKind) this.byTarget.set(kind, (perKind = new Map()));
    let found = perKind.get(target);
    if (!found) {
      found = kind === 'end' ? [] : this.reads.filter((r) => (r.read.kind === undefined || r.read.kind === kind) && globMatch(r.read.target, target));
      if (perKind.size < 10_000) perKind.set(target, found);
    }
    return found;
  }

  /** The consumers a finding touches, and whether its target has any declared consumer at all. */
  impactOf(f: Pick<Finding, 'effectKind' | 'target' | 'field'>): Impact {
    const key = `${f.effectKind}\u0000${f.target}\u0000${f.field}`;
    let impact = this.impacts.get(key);
    if (!impact) {
      const reads = this.readsOf(f.effectKind, f.target);
      const segments = fieldSegments(f.field);
      const touched = reads.filter((r) => !r.paths || touches(r.paths, segments));
      const names = [...new Set(touched.map((r) => r.consumer.name))];
      impact = { declared: reads.length > 0, consumers: names, critical: touched.some((r) => r.consumer.critical) };
      if (this.impacts.size < 100_000) this.impacts.set(key, impact);
    }
    return impact;
  }

  /**
   * Names each finding's consumers and moves its severity with them (in place). A finding on a
   * target nobody declared is left as it is: the file says nothing about who reads it.
   */
  annotate(findings: Finding[]): void {
    if (this.reads.length === 0) return;
    for (const f of findings) {
      if (f.kind === 'contract') continue; // named and ranked by its own consumer
      const impact = this.impactOf(f);
      if (!impact.declared) continue;
      const from = f.severity;
      if (impact.consumers.length) {
        f.consumers = [...impact.consumers];
        f.severity = impact.critical ? 'critical' : STEP_UP[from];
      } else {
        f.unread = true;
        f.severity = STEP_DOWN[from];
      }
      if (f.severity !== from) f.baseSeverity = from;
    }
  }
}

/** A field's segments for matching: `items[*].price` → items, 0, price (consumer paths name no positions). */
function fieldSegments(field: string): Segment[] {
  // A whole effect (''), and the effect's status and op: every reader of the target is touched.
  if (field === '' || field.startsWith('(')) return [];
  try {
    return parsePattern(field).map((s) => (s.t === 'key' ? s.key : 0));
  } catch {
    return [];
  }
}

/**
 * A consumer reading `delivery` is touched by a finding at `delivery.fee` (it reads the field's
 * parent), and one reading `delivery.fee` by a finding at `delivery` (the whole object changed).
 */
function touches(paths: PatternSet, segments: readonly Segment[]): boolean {
  let state: State = paths.start();
  if (paths.matches(state) >= 0) return true;
  for (const seg of segments) {
    state = paths.step(state, seg);
    if (state.length === 0) return false;
    if (paths.matches(state) >= 0) return true;
  }
  return state.length > 0;
}
