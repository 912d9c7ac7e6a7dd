// Driver values → the effect format's JSON: BSON types keep their type as Extended JSON v2 tags
// (core/tagged.ts), so an ObjectId never becomes a bare string and a Long never a double.
// The result is a fresh copy: later mutation of the app's objects cannot change a record.

import { Binary, Decimal128, Long, MaxKey, MinKey, ObjectId, Timestamp } from 'mongodb';

const MAX_DEPTH = 200;

export function toEffectValue(value: unknown, depth = 0): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value)) return value === 0 ? 0 : value;
      return { $numberDouble: Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity' };
    case 'bigint':
      return { $numberLong: value.toString() };
    case 'undefined':
      return null; // the driver stores undefined as null unless ignoreUndefined is set
    case 'object':
      break;
    default:
      return null; // functions and symbols are not stored by the driver either
  }
  if (value === null) return null;
  if (depth > MAX_DEPTH) return { $truncated: `nested deeper than ${MAX_DEPTH} levels` };
  if (Array.isArray(value)) return value.map((v) => toEffectValue(v, depth + 1));
  // Tags, not instanceof: the app's objects may come from another realm (a vm context, structuredClone).
  const tag = Object.prototype.toString.call(value);
  if (tag === '[object Date]') {
    const d = value as Date;
    return { $date: Number.isNaN(d.getTime()) ? 'invalid' : d.toISOString() };
  }
  if (tag === '[object RegExp]') return { $regularExpression: { pattern: (value as RegExp).source, options: (value as RegExp).flags } };
  if (value instanceof Uint8Array || tag === '[object Uint8Array]') {
    const bytes = value as Uint8Array;
    return { $binary: { base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), subType: '00' } };
  }
  const bson = (value as { _bsontype?: unknown })._bsontype;
  if (typeof bson === 'string') return bsonValue(bson, value as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = toEffectValue((value as Record<string, unknown>)[key], depth + 1);
    if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out;
}

function bsonValue(type: string, v: Record<string, unknown>): unknown {
  const call = (method: string): unknown => (v[method] as () => unknown).call(v);
  // Duck-typed on `_bsontype`: the app's driver may load its own copy of the bson package.
  switch (type) {
    case 'ObjectId':
      return { $oid: call('toHexString') };
    case 'Decimal128':
      return { $numberDecimal: String(v) };
    case 'Long':
      return { $numberLong: String(v) };
    case 'Int32':
    case 'Double':
      return toEffectValue(call('valueOf'));
    case 'Binary':
      return { $binary: { base64: (v.toString as (enc: string) => string).call(v, 'base64'), subType: Number(v.sub_type ?? 0).toString(16).padStart(2, '0') } };
    case 'Timestamp':
      return { $timestamp: { t: Number(v.t), i: Number(v.i) } };
    case 'BSONRegExp':
      return { $regularExpression: { pattern: v.pattern, options: v.options } };
    case 'MinKey':
      return { $minKey: 1 };
    case 'MaxKey':
      return { $maxKey: 1 };
    default:
      return { $bsonType: type, value: String(v) };
  }
}

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
    if (key === '__proto__') Object.defineProperty(out, key, { value: x, enumerable: true, writable: true, configurable: true });
    else out[key] = x;
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
