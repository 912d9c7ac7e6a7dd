// How a settings, rules or records file's mistakes read. Zod's own words for an absent field are
// "Invalid input: expected string, received undefined"; ours are "is missing". Passed to each
// parse, never set on zod globally: the SDK runs inside applications that may use zod too.
import type { z } from 'zod';

/** Parse options that name an absent required field "is missing"; every other issue keeps its message. */
export const READABLE: z.core.ParseContext<z.core.$ZodIssue> = {
  error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is missing' : undefined),
};
