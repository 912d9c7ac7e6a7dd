// Plain-text rendering of comparisons for terminals and logs: one block per comparison that
// is not a match, one line per finding, and a totals line.
import type { Comparison, Finding, Verdict } from '../../compare/engine';

const WIDTH = 60;

export function renderComparisonText(c: Comparison): string {
  const lines = [`${c.verdict.toUpperCase().padEnd(10)} ${c.shadowId}  ${c.route}`];
  if (c.verdict === 'incomplete') for (const r of c.incomplete ?? []) lines.push(`  ${r}`);
  if (c.verdict === 'inconclusive') for (const r of c.inconclusive ?? []) lines.push(`  ${r}`);
  if (c.verdict === 'error') lines.push(`  ${c.error ?? 'comparison failed'}`);
  for (const f of c.findings) lines.push(`  ${renderFinding(f)}`);
  if (c.noise.length) lines.push(`  (${c.noise.length} difference(s) suppressed as noise learned from the secondary)`);
  return lines.join('\n');
}

export function renderFinding(f: Finding): string {
  const where = [f.effectKind, f.candidateTarget ? `${f.target} (candidate: ${f.candidateTarget})` : f.target, f.path].filter(Boolean).join(' ');
  const parts = [f.severity.padEnd(8), f.kind.padEnd(15), where];
  if (f.kind === 'missing-effect' || f.kind === 'extra-effect') {
    if (f.key !== undefined) parts.push(`key=${short(f.key)}`);
  } else {
    if (f.legacy !== undefined) parts.push(`legacy=${short(f.legacy)}`);
    if (f.candidate !== undefined) parts.push(`candidate=${short(f.candidate)}`);
  }
  if (f.kind === 'type-changed') parts.push(`(${f.legacyType ?? typeName(f.legacy)} → ${f.candidateType ?? typeName(f.candidate)})`);
  if (f.preStateDiffers) parts.push('(pre-state differs)');
  if (f.reason) parts.push(`(${f.reason})`);
  if (f.schemaPath) parts.push(`schema ${f.schemaPath}`);
  if (f.consumers?.length) parts.push(`[read by ${f.consumers.join(', ')}]`);
  else if (f.unread) parts.push('[no declared consumer reads it]');
  return parts.join('  ');
}

export function renderTotals(t: Record<Verdict, number> & { compared: number }): string {
  return `${t.compared} compared: ${t.match} match, ${t.mismatch} mismatch, ${t.incomplete} incomplete, ${t.inconclusive ? `${t.inconclusive} inconclusive, ` : ''}${t.error} error`;
}

/** A value as JSON, cut to one line's width. */
export function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > WIDTH ? `${s.slice(0, WIDTH - 1)}…` : s;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') {
    const k = Object.keys(v as object)[0];
    return k?.startsWith('$') ? k.slice(1) : 'object';
  }
  return typeof v;
}
