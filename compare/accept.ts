// Accepted differences: known, agreed findings with a reason and maybe an expiry, read from
// an accept file (`--accept`). A finding an entry matches no longer counts as a regression.
import { z } from 'zod';
import { ShadowdiffError } from '../core/errors';
import type { Finding } from './engine';
import { READABLE } from '../core/issues';

export const acceptFileSchema = z
  .object({
    accepted: z.array(
      z
        .object({
          /** `METHOD /route`, as reports show it; omitted: every route. */
          route: z.string().min(1).optional(),
          target: z.string().min(1).optional(),
          /** The field path (`items[].price`); omitted: any field of the target. */
          field: z.string().optional(),
          kind: z.string().optional(),
          reason: z.string().min(1, 'say why this difference is accepted'),
          /** After this date (YYYY-MM-DD) the entry no longer applies: the build fails again. */
          expires: z.iso.date().optional(),
        })
        .strict(),
    ),
  })
  .strict();

export type AcceptEntry = z.infer<typeof acceptFileSchema>['accepted'][number];

export function parseAcceptFile(value: unknown, file: string): AcceptEntry[] {
  const r = acceptFileSchema.safeParse(value, READABLE);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ShadowdiffError('SHADOWDIFF_USAGE', `${file}: "${issue.path.join('.') || '(file)'}": ${issue.message} (expected {"accepted": [{"route"?, "target"?, "field"?, "kind"?, "reason", "expires"?}]}).`, { file });
  }
  return r.data.accepted;
}

/** Whether the entry covers this finding on this route; an omitted property matches anything. */
export function acceptedBy(a: AcceptEntry, route: string, f: Finding): boolean {
  return (a.route === undefined || a.route === route) && (a.target === undefined || a.target === f.target || a.target === f.candidateTarget) && (a.field === undefined || a.field === f.field) && (a.kind === undefined || a.kind === f.kind);
}
