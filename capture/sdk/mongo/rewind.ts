// The rewind layer of one dry-run request: what the live side of the same request handed off
// (prestate.ts), decoded to driver values, per collection. The view (overlay.ts) excludes these
// documents from its database reads and puts their before-images in their place.
import type { HandoffSnapshot } from '../../../runtime/handoff/handoff';
import { imageField } from '../../../runtime/handoff/handoff';
import { fromEffectValue } from '../ejson';
import { type Doc, idKey } from './documents';

/** Where a rewind reads the handoff, and how it says the request's pre-state is unknown. */
export interface RewindSource {
  /** One bounded read of the request's handoff; undefined when it failed (already reported). */
  lookup(): Promise<HandoffSnapshot | undefined>;
  unknown(reason: string): void;
  /** How long a read waits for a pending live upsert to report its id. */
  readonly pendingWaitMs: number;
}

/** A document the live side wrote in this request, as it was before: null when it did not exist. */
export interface RewoundImage {
  id: unknown;
  before: Doc | null;
}

const NONE: ReadonlyMap<string, RewoundImage> = new Map();

/**
 * What a dry-run request knows of the live side's writes, per collection: the images handed
 * off so far (decoded to driver values). Reads call `known` before they query the database
 * and `refresh` after, and query again when the refresh found documents they did not exclude.
 */
export class Rewind {
  private readonly byNs = new Map<string, Map<string, RewoundImage>>();
  private readonly pending = new Map<string, number>();
  private readonly seen = new Set<string>();

  constructor(private readonly owner: RewindSource) {}

  /** The images of one collection known so far. This map grows with each refresh: copy it to compare later. */
  known(ns: string): ReadonlyMap<string, RewoundImage> {
    return this.byNs.get(ns) ?? NONE;
  }

  /** Any live image of any collection (an aggregate that reads other collections cannot be rewound). */
  get anyImages(): boolean {
    return this.byNs.size > 0;
  }

  /**
   * Reads the handoff (after the caller's database read) and waits, bounded, for upserts of
   * `ns` announced as pending. True when `ns` now has images the caller did not know of.
   */
  async refresh(ns: string | undefined, knownBefore: ReadonlyMap<string, RewoundImage>): Promise<boolean> {
    const deadline = Date.now() + this.owner.pendingWaitMs;
    for (;;) {
      const snap = await this.owner.lookup();
      if (!snap) return false;
      this.absorb(snap);
      if (ns === undefined || !this.pending.get(ns)) break;
      if (Date.now() >= deadline) {
        this.owner.unknown(`a live upsert on ${ns} did not report its id within ${this.owner.pendingWaitMs} ms`);
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    if (ns === undefined) return false;
    const now = this.byNs.get(ns);
    if (!now) return false;
    for (const k of now.keys()) if (!knownBefore.has(k)) return true;
    return false;
  }

  private absorb(snap: HandoffSnapshot): void {
    for (const img of snap.images) {
      const field = imageField(img.ns, img.id);
      if (this.seen.has(field)) continue;
      this.seen.add(field);
      const id = fromEffectValue(img.id);
      let m = this.byNs.get(img.ns);
      if (!m) this.byNs.set(img.ns, (m = new Map()));
      m.set(idKey(id), { id, before: img.before === null ? null : (fromEffectValue(img.before) as Doc) });
    }
    this.pending.clear();
    for (const u of snap.upserts) if (u.ids === undefined) this.pending.set(u.ns, (this.pending.get(u.ns) ?? 0) + 1);
  }

  unknown(reason: string): void {
    this.owner.unknown(reason);
  }
}

