// The effect format's JSON → driver values, for the SDK's dry-run (a handed-off pre-state
// becomes documents again). The other way is core/effect-value.ts.

import { Binary, Decimal128, Long, MaxKey, MinKey, ObjectId, Timestamp } from 'mongodb';
import { MAX_DEPTH, unescapeKey } from '../../core/effect-value';

/**
 * The effect format's JSON → driver values: the inverse of toEffectValue for what it emits
 * (the handoff carries before-images in this form between processes). A document the driver
 * returned round-trips to an equal document.
 */
export function fromEffectValue(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => fromEffectValue(v, depth + 1));
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v);
  if (keys.length === 1) {
    const tagged = fromTagged(keys[0]!, v[keys[0]!]);
    if (tagged !== NOT_TAGGED) return tagged;
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const x = fromEffectValue(v[key], depth + 1);
    const name = unescapeKey(key);
    if (name === '__proto__') Object.defineProperty(out, name, { value: x, enumerable: true, writable: true, configurable: true });
    else out[name] = x;
  }
  return out;
}

const NOT_TAGGED = Symbol('not tagged');

function fromTagged(tag: string, x: unknown): unknown {
  const o = x as Record<string, unknown>;
  switch (tag) {
    case '$oid':
      return typeof x === 'string' && ObjectId.isValid(x) ? new ObjectId(x) : NOT_TAGGED;
    case '$date':
      return typeof x === 'string' ? new Date(x === 'invalid' ? Number.NaN : x) : NOT_TAGGED;
    case '$numberDecimal':
      return typeof x === 'string' ? Decimal128.fromString(x) : NOT_TAGGED;
    case '$numberLong':
      return typeof x === 'string' ? Long.fromString(x) : NOT_TAGGED;
    case '$numberDouble':
      return x === 'NaN' ? Number.NaN : x === 'Infinity' ? Number.POSITIVE_INFINITY : x === '-Infinity' ? Number.NEGATIVE_INFINITY : NOT_TAGGED;
    case '$binary':
      return o && typeof o.base64 === 'string' ? new Binary(Buffer.from(o.base64, 'base64'), Number.parseInt(String(o.subType ?? '0'), 16)) : NOT_TAGGED;
    case '$timestamp':
      return o && typeof o.t === 'number' && typeof o.i === 'number' ? new Timestamp({ t: o.t, i: o.i }) : NOT_TAGGED;
    case '$regularExpression':
      return o && typeof o.pattern === 'string' ? new RegExp(o.pattern, typeof o.options === 'string' ? o.options : '') : NOT_TAGGED;
    case '$minKey':
      return new MinKey();
    case '$maxKey':
      return new MaxKey();
    default:
      return NOT_TAGGED;
  }
}
