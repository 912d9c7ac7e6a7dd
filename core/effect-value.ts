// Values → the effect format's JSON: BSON types keep their type as Extended JSON v2 tags
// (core/tagged.ts), so an ObjectId never becomes a bare string and a Long never a double.
// The result is a fresh copy: later mutation of the app's objects cannot change a record.
// BSON values are recognised by tag and `_bsontype`, so this needs no driver (the inverse,
// which builds driver values, is capture/sdk/ejson.ts).
export const MAX_DEPTH = 200;

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
  for (const key of Object.keys(value)) out[escapeKey(key)] = toEffectValue((value as Record<string, unknown>)[key], depth + 1);
  return out;
}

// A `__proto__` key is the application's data, but a record carrying it would be refused by
// every reader that guards against prototype pollution (the worker does). So the format writes
// it escaped: `__proto__` as `$__proto__`, and a key that already looks escaped gets one more
// `$` (`$__proto__` as `$$__proto__`), so the mapping can be undone (docs/effect-format.md).
const PROTO_KEY = /^\$*__proto__$/;

/** The key as the effect format writes it. */
export function escapeKey(key: string): string {
  return key.length >= 9 && PROTO_KEY.test(key) ? `$${key}` : key;
}

/** The application's key for a key of the effect format (the inverse of escapeKey). */
export function unescapeKey(key: string): string {
  return key.length >= 10 && key.charCodeAt(0) === 36 && PROTO_KEY.test(key) ? key.slice(1) : key;
}

/** An escaped `__proto__` key: data, not a `$` operator. */
export function isEscapedKey(key: string): boolean {
  return key.length >= 10 && key.charCodeAt(0) === 36 && PROTO_KEY.test(key);
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
