// Typed values in the effect format. BSON types that JSON cannot express keep their type as
// MongoDB Extended JSON v2 tags ({"$oid": …}, {"$date": …}, {"$numberLong": "1"}, …), so that
// `1` and Long(1), or a Date and its ISO string, never compare as silently equal. Plain JSON
// numbers are doubles/int32; see docs/effect-format.md.

export type TagName = 'objectId' | 'date' | 'decimal' | 'long' | 'double' | 'binary' | 'uuid' | 'timestamp';

/** The JSON type of a value, or its tag: what a `type-changed` finding names. */
export type ValueType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object' | 'undefined' | TagName;

const TAG_KEYS: Record<string, TagName> = {
  $oid: 'objectId',
  $date: 'date',
  $numberDecimal: 'decimal',
  $numberLong: 'long',
  $numberDouble: 'double',
  $binary: 'binary',
  $uuid: 'uuid',
  $timestamp: 'timestamp',
};

/** The tag of a tagged value, or undefined for anything else (including user objects with `$` keys). */
export function tagOf(value: unknown): TagName | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  // Look the few tag keys up rather than enumerate: for...in over a huge object lists every key first.
  for (const key of TAG_KEY_LIST) {
    if (Object.prototype.hasOwnProperty.call(value, key)) return Object.keys(value).length === 1 ? TAG_KEYS[key] : undefined;
  }
  return undefined;
}

const TAG_KEY_LIST = Object.keys(TAG_KEYS);

export function isTagKey(key: unknown): boolean {
  return typeof key === 'string' && key in TAG_KEYS;
}

export function typeOf(value: unknown): ValueType {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const t = typeof value;
  if (t === 'object') return tagOf(value) ?? 'object';
  if (t === 'number' || t === 'bigint') return 'number';
  if (t === 'string' || t === 'boolean' || t === 'undefined') return t;
  return 'object';
}

/**
 * The canonical form of a tagged value: equal BSON values get equal canonical forms
 * (`{"$numberDecimal":"12.50"}` and `"12.5"`, a date with or without milliseconds,
 * ObjectIds in either case). Values that do not parse are returned unchanged, so they
 * still compare by their literal content.
 */
export function canonicalTagged(value: Record<string, unknown>, tag: TagName): unknown {
  switch (tag) {
    case 'objectId': {
      const v = value.$oid;
      return typeof v === 'string' ? { $oid: v.toLowerCase() } : value;
    }
    case 'uuid': {
      const v = value.$uuid;
      return typeof v === 'string' ? { $uuid: v.toLowerCase() } : value;
    }
    case 'date': {
      const ms = dateMillis(value.$date);
      return ms === undefined ? value : { $date: new Date(ms).toISOString() };
    }
    case 'long': {
      const v = value.$numberLong;
      if (typeof v !== 'string' || !/^[+-]?\d+$/.test(v)) return value;
      return { $numberLong: BigInt(v).toString() };
    }
    case 'decimal': {
      const v = value.$numberDecimal;
      const d = typeof v === 'string' ? canonicalDecimal(v) : undefined;
      return d === undefined ? value : { $numberDecimal: d };
    }
    case 'double': {
      // Canonical EJSON writes doubles as strings; a finite one is just a JSON number.
      const v = value.$numberDouble;
      const n = typeof v === 'string' ? Number(v) : NaN;
      return Number.isFinite(n) ? n : value;
    }
    case 'binary': {
      const b = value.$binary as { base64?: unknown; subType?: unknown } | null;
      if (!b || typeof b.base64 !== 'string') return value;
      const sub = typeof b.subType === 'string' ? b.subType.toLowerCase().padStart(2, '0') : '00';
      return { $binary: { base64: b.base64, subType: sub } };
    }
    case 'timestamp':
      return value;
  }
}

function dateMillis(v: unknown): number | undefined {
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? undefined : ms;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v && typeof v === 'object' && typeof (v as { $numberLong?: unknown }).$numberLong === 'string') {
    const n = Number((v as { $numberLong: string }).$numberLong);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** "0012.50" → "12.5", "1E2" → "100", "-0.0" → "0"; undefined for NaN/Infinity/garbage. */
export function canonicalDecimal(text: string): string | undefined {
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const [, sign, int = '', frac = '', exp = '0'] = m;
  if (int === '' && frac === '') return undefined;
  let digits = (int + frac).replace(/^0+/, '');
  if (digits === '') return '0';
  // value = digits × 10^point, where point counts from the right end of digits
  let point = Number(exp) - frac.length;
  const trailing = /0+$/.exec(digits);
  if (trailing) {
    digits = digits.slice(0, -trailing[0].length);
    point += trailing[0].length;
  }
  if (Math.abs(point) > 64) return `${sign === '-' ? '-' : ''}${digits}E${point}`;
  let out: string;
  if (point >= 0) out = digits + '0'.repeat(point);
  else if (-point < digits.length) out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  else out = `0.${'0'.repeat(-point - digits.length)}${digits}`;
  return sign === '-' ? `-${out}` : out;
}

const OBJECT_ID = /^[0-9a-f]{24}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** A value that a system generates per write (ObjectId, UUID, ULID): it differs between sides by nature. */
export function isGeneratedId(value: unknown): boolean {
  const tag = tagOf(value);
  if (tag === 'objectId' || tag === 'uuid') return true;
  if (tag === 'binary') return (value as { $binary: { subType?: string } }).$binary.subType === '04';
  return typeof value === 'string' && (UUID.test(value) || ULID.test(value) || OBJECT_ID.test(value));
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;

/** A value that looks like a timestamp: a tagged date, an ISO date-time string, or epoch millis of this era. */
export function isTimeLike(value: unknown): boolean {
  if (tagOf(value) === 'date') return true;
  if (typeof value === 'string') return ISO_TIME.test(value);
  // 2001-09-09 .. 2286-11-20 in epoch milliseconds
  return typeof value === 'number' && Number.isInteger(value) && value >= 1e12 && value < 1e13;
}
