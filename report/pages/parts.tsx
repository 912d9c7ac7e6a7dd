// Pieces of the served pages: breadcrumbs, the per-hour trend, the filter form, the "mark as
// expected" form, and a JSON value with its differing paths marked.
import type { ComponentChildren, VNode } from 'preact';
import { VERDICTS } from '../../compare/engine';
import type { DifferenceFilter } from '../params';
import type { DifferenceGroup, RouteOverview } from '../queries';
import { u } from '../render/parts';

/** `runs / <run> / …`: links for all but the last. */
export function Crumbs({ run, children }: { run?: string; children?: ComponentChildren }): VNode {
  return (
    <p class="crumbs">
      <a href="/">runs</a> / {run === undefined ? null : children === undefined ? run : <a href={`/runs/${u(run)}`}>{run}</a>}
      {children === undefined ? null : <> / {children}</>}
    </p>
  );
}

/**
 * The mismatch rate per hour as a small inline SVG (markup, not script: the CSP allows it):
 * one bar per hour, its height the share of requests that mismatched, each with a tooltip.
 */
export function Sparkline({ trend }: { trend: RouteOverview['trend'] }): VNode | null {
  if (!trend.length) return null;
  const W = 6;
  const H = 24;
  return (
    <svg class="trend" width={trend.length * W} height={H} viewBox={`0 0 ${trend.length * W} ${H}`} role="img" aria-label="mismatch rate per hour">
      {trend.map((t, i) => {
        const rate = t.compared ? t.mismatched / t.compared : 0;
        const height = Math.max(1, Math.round(rate * H));
        return (
          <rect x={i * W} y={H - height} width={W - 1} height={height} fill={rate > 0 ? '#cf222e' : '#1a7f37'}>
            <title>{`${t.hour}:00 — ${t.mismatched} of ${t.compared} mismatched`}</title>
          </rect>
        );
      })}
    </svg>
  );
}

const KINDS = ['missing-effect', 'extra-effect', 'changed', 'removed', 'added', 'type-changed', 'too-large'];

/** The filters of the differences and requests pages: a plain GET form. */
export function FilterForm({ action, f, routes, what }: { action: string; f: DifferenceFilter & { verdict?: string; value?: string }; routes: string[]; what: 'differences' | 'requests' }): VNode {
  const text = (name: string, label: string, value: string | undefined, hint: string) => (
    <label>
      {label} <input name={name} value={value ?? ''} placeholder={hint} maxLength={name === 'value' ? 200 : undefined} />
    </label>
  );
  const select = (name: string, label: string, options: string[], value: string | undefined) => (
    <label>
      {label}{' '}
      <select name={name}>
        <option value="">any</option>
        {options.map((x) => (
          <option selected={x === value}>{x}</option>
        ))}
      </select>
    </label>
  );
  return (
    <form method="get" action={action} class="filters" id="filters">
      {select('route', 'route', routes, f.route)}
      {text('target', 'target', f.target, what === 'requests' ? 'exact, e.g. shop.orders' : 'contains')}
      {text('field', 'field', f.field, what === 'requests' ? 'exact, e.g. total' : 'contains')}
      {what === 'differences' ? (
        <>
          {select('severity', 'severity', ['high', 'medium', 'low'], f.severity)} {select('kind', 'kind', KINDS, f.kind)}
        </>
      ) : (
        <>
          {select('verdict', 'verdict', [...VERDICTS], f.verdict)} {text('value', 'value', f.value, 'a value or key, exactly')}
        </>
      )}
      {text('since', 'compared since', f.since, '2026-11-25T09:00Z')} {text('until', 'until', f.until, 'UTC unless +hh:mm')}
      <button type="submit">Filter</button> <a href={action}>clear</a>
    </form>
  );
}

/** "Mark as expected": an ignore rule for this field on this target, with a required reason and author. */
export function ExpectedForm({ runId, route, g }: { runId: string; route: string | undefined; g: DifferenceGroup }): VNode | null {
  if (!g.field) return null; // a missing or extra effect is not a field to ignore: fix it, or map it with a rule
  return (
    <details class="expected">
      <summary>mark as expected</summary>
      <form method="post" action={`/runs/${u(runId)}/expected`}>
        <input type="hidden" name="target" value={g.target} />
        <input type="hidden" name="field" value={g.field} />
        <input type="hidden" name="kind" value={g.effectKind} />
        {route ? <input type="hidden" name="route" value={route} /> : null}
        <label>
          reason <input name="reason" required maxLength={500} />
        </label>{' '}
        <label>
          author <input name="author" required maxLength={100} />
        </label>{' '}
        <button type="submit">
          ignore {g.field} on {g.target}
        </button>
      </form>
    </details>
  );
}

/**
 * A JSON value as nested HTML, keys in order, with the values at differing paths (finding
 * paths such as `items[2].price`) marked so they stand out in place.
 */
export function JsonValue({ value, differing, side, path = '' }: { value: unknown; differing: Set<string>; side: 'legacy' | 'candidate'; path?: string }): VNode {
  let inner: VNode;
  if (value === null || typeof value !== 'object') inner = <span class="scalar">{JSON.stringify(value) ?? 'undefined'}</span>;
  else if (Array.isArray(value)) {
    inner = (
      <ol start={0} class="json">
        {value.map((v, i) => (
          <li>
            <JsonValue value={v} differing={differing} side={side} path={`${path}[${i}]`} />
          </li>
        ))}
      </ol>
    );
  } else {
    inner = (
      <ul class="json">
        {Object.entries(value as Record<string, unknown>).map(([k, v]) => (
          <li>
            <span class="key">{k}</span>: <JsonValue value={v} differing={differing} side={side} path={path ? `${path}.${k}` : k} />
          </li>
        ))}
      </ul>
    );
  }
  return differing.has(path) ? (
    <mark class={`diff ${side}`} data-path={path}>
      {inner}
    </mark>
  ) : (
    inner
  );
}
