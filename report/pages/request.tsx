// One request: its findings, the request and both responses, and the effects side by side as
// they were paired, with the differing values marked in place.
import type { ComponentChildren, VNode } from 'preact';
import type { Finding } from '../../compare/engine';
import type { SideRecord } from '../../core/effect';
import type { RequestView } from '../queries';
import { Badge, Head, show, u } from '../render/parts';
import { pageHtml } from './page';
import { Crumbs, JsonValue } from './parts';

type Side = 'legacy' | 'candidate';

export function requestPage(v: RequestView): string {
  const c = v.comparison;
  const run = c.runId;
  const findingsBySeq = (side: Side) => {
    const m = new Map<number, Finding[]>();
    for (const f of c.findings) {
      const seq = side === 'legacy' ? f.legacySeq : f.candidateSeq;
      if (seq === undefined) continue;
      m.set(seq, [...(m.get(seq) ?? []), f]);
    }
    return m;
  };
  const found = { legacy: findingsBySeq('legacy'), candidate: findingsBySeq('candidate') };
  const x = v.exchange;
  const none = <span class="muted">(none)</span>;
  const differencesOf = `/runs/${u(run)}/differences?route=${u(c.route)}`;
  return pageHtml(
    c.shadowId,
    <>
      <Crumbs run={run}>
        <a href={differencesOf}>{c.route}</a> / {c.shadowId}
      </Crumbs>
      <h1>
        {c.route} <Badge of={c.verdict === 'match' ? 'ready' : 'not-ready'}>{c.verdict}</Badge>
      </h1>
      <p class="muted">
        {c.shadowId} · compared {c.comparedAt}
        {c.incomplete?.length ? ` · incomplete: ${c.incomplete.join('; ')}` : ''}
        {c.inconclusive?.length ? ` · inconclusive: ${c.inconclusive.join('; ')}` : ''}
        {c.error ? ` · ${c.error}` : ''}
      </p>
      {c.findings.length ? (
        <>
          <h2>Findings</h2>
          <table id="findings">
            <Head cols={['severity', 'kind', 'target', 'path', 'legacy', 'candidate', '']} />
            <tbody>
              {c.findings.map((f) => (
                <tr>
                  <td class={`sev-${f.severity}`}>{f.severity}</td>
                  <td>{f.kind}</td>
                  <td>
                    <code>{f.target}</code>
                  </td>
                  <td>
                    <code>{f.path}</code>
                  </td>
                  <td class="v legacy">{show(f.legacy)}</td>
                  <td class="v candidate">{show(f.candidate)}</td>
                  <td>
                    <a href={differencesOf}>examples</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      {x ? (
        <>
          <h2>Request</h2>
          <div class="effect">
            <div class="head">
              {x.request.method} <code>{x.request.path}</code>
            </div>
            <JsonValue value={x.request.body ?? null} differing={new Set()} side="legacy" />
          </div>
          <h2>Responses</h2>
          <Sides rows={[[<Response r={x.responses.legacy} />, <Response r={x.responses.candidate} />]]} />
        </>
      ) : null}
      <h2>Effects, paired as compared</h2>
      {c.pairs.length ? (
        <Sides
          id="pairs"
          rows={c.pairs.map((p) => {
            const l = p.legacySeq === undefined ? undefined : v.legacy.find((r) => r.type === 'effect' && r.seq === p.legacySeq);
            const r = p.candidateSeq === undefined ? undefined : v.candidate.find((e) => e.type === 'effect' && e.seq === p.candidateSeq);
            return [l ? <Effect r={l} found={found.legacy.get(p.legacySeq!)} side="legacy" /> : none, r ? <Effect r={r} found={found.candidate.get(p.candidateSeq!)} side="candidate" /> : none];
          })}
        />
      ) : (
        <p class="muted">No effects kept for this request (the worker keeps them for requests that did not match).</p>
      )}
    </>,
  );
}

/** Legacy and candidate side by side, a row per pair. */
function Sides({ id, rows }: { id?: string; rows: [ComponentChildren, ComponentChildren][] }): VNode {
  return (
    <table class="sides" id={id}>
      <Head cols={['legacy', 'candidate']} />
      <tbody>
        {rows.map(([legacy, candidate]) => (
          <tr>
            <td>{legacy}</td>
            <td>{candidate}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Effect({ r, found, side }: { r: SideRecord; found: Finding[] | undefined; side: Side }): VNode {
  if (r.type === 'end') {
    return (
      <div class="effect end">
        end: {r.count} effect(s), status {r.status ?? '—'}
      </div>
    );
  }
  const value = r.kind === 'db' ? (r.after ?? r.before) : r.payload;
  return (
    <div class={found ? 'effect differs' : 'effect'}>
      <div class="head">
        #{r.seq} {r.kind} <code>{r.target}</code> {r.op}
        {r.status === 'failed' ? (
          <>
            {' '}
            <span class="sev-high">failed</span>
          </>
        ) : null}
      </div>
      <JsonValue value={value} differing={new Set((found ?? []).map((f) => f.path))} side={side} />
    </div>
  );
}

function Response({ r }: { r: { status?: number; body?: unknown; error?: string } | undefined }): VNode {
  if (!r) return <span class="muted">(none)</span>;
  if (r.error) return <span class="sev-high">{r.error}</span>;
  return (
    <div class="effect">
      <div class="head">status {r.status ?? '—'}</div>
      <JsonValue value={r.body ?? null} differing={new Set()} side="legacy" />
    </div>
  );
}
