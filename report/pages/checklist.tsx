// The cutover checklist: readiness per route against the gates, as Markdown to paste into a
// change request, and the self-contained report to attach.
import type { ReplayResult } from '../../compare/readiness';
import type { OverviewGates } from '../queries';
import { Badge, pct, u } from '../render/parts';
import { pageHtml } from './page';
import { Crumbs } from './parts';

export function checklistPage({ runId, result, markdown, gates }: { runId: string; result: ReplayResult; markdown: string; gates: OverviewGates }): string {
  const verdict = result.passed ? 'ready' : 'not ready';
  return pageHtml(
    `${runId} cutover checklist`,
    <>
      <Crumbs run={runId}>cutover checklist</Crumbs>
      <h1>
        Cutover checklist <Badge of={verdict} />
      </h1>
      <p class="muted">
        Readiness per route against the gates (at least {gates.minRequests} complete comparisons, a mismatch rate of at most {pct(gates.maxMismatchRate)}), and the differences that stand in the way — as Markdown, to paste into a change request.{' '}
        <a href={`/runs/${u(runId)}/report.html`}>Download the report as one HTML file</a> to attach it.
      </p>
      <textarea id="checklist" readOnly rows={Math.min(40, markdown.split('\n').length + 1)}>
        {markdown}
      </textarea>
    </>,
  );
}
