// Pieces every page uses, the served ones and the self-contained file: the document layout,
// badges, and how values read. JSX rendered by preact escapes every text and attribute; the
// only unescaped content is our own stylesheet and the report file's one script.
import type { ComponentChildren, VNode } from 'preact';
import { render } from 'preact-render-to-string';
import type { ConsumerResult } from '../../compare/readiness';
import { preview } from '../../core/format';
import { CSS } from './style';

export { percent as pct } from '../../core/format';

/** A badge's class: `not ready` → `not-ready`. */
export const cls = (s: string): string => s.replace(/ /g, '-');

/** A path segment or query value in a link. */
export const u = (s: string): string => encodeURIComponent(s);

/** A value in a table cell: one line of JSON, cut at `max` characters. */
export const show = (v: unknown, max = 200): string => preview(v, max);

export function Badge({ of, children }: { of: string; children?: ComponentChildren }): VNode {
  return <span class={`badge ${cls(of)}`}>{children ?? of}</span>;
}

/** A column heading: its name, or `{ n: name }` for a right-aligned number column. */
export type Column = string | { n: string };

/** A table's heading row. */
export function Head({ cols }: { cols: Column[] }): VNode {
  return (
    <thead>
      <tr>{cols.map((c) => (typeof c === 'string' ? <th>{c}</th> : <th class="n">{c.n}</th>))}</tr>
    </thead>
  );
}

/**
 * The declared consumers and their readiness: the run's page (each linked, with what it reads)
 * and the report file (names only).
 */
export function ConsumersTable({ consumers, href }: { consumers: readonly ConsumerResult[]; href?: (name: string) => string }): VNode {
  return (
    <table id="consumers">
      <Head cols={['consumer', 'owner', 'readiness', 'why', ...(href ? ['reads'] : [])]} />
      <tbody>
        {consumers.map((c) => (
          <tr>
            <td>
              {href ? <a href={href(c.name)}>{c.name}</a> : c.name} {c.critical ? <span class="sev-critical">critical</span> : null}
            </td>
            <td>{c.owner}</td>
            <td>
              <Badge of={c.readiness} />
            </td>
            <td>{c.why}</td>
            {href ? (
              <td>
                {c.reads.map((r) => (
                  <div>
                    <code>{r.target}</code> {r.paths.join(', ')}
                  </div>
                ))}
              </td>
            ) : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export interface LayoutProps {
  title: string;
  /** The self-contained file: its stylesheet inline, its CSP in a meta tag, its one script. */
  standalone?: { csp: string; script: string };
  /** Reload the page after this many seconds (progress, without a script). */
  refreshSeconds?: number | undefined;
  children: ComponentChildren;
}

export function Layout({ title, standalone, refreshSeconds, children }: LayoutProps): VNode {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        {standalone ? <meta http-equiv="Content-Security-Policy" content={standalone.csp} /> : null}
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {refreshSeconds ? <meta http-equiv="refresh" content={String(refreshSeconds)} /> : null}
        <title>{title}</title>
        {standalone ? <style dangerouslySetInnerHTML={{ __html: CSS }} /> : <link rel="stylesheet" href="/style.css" />}
      </head>
      <body>
        {children}
        {standalone ? <script dangerouslySetInnerHTML={{ __html: standalone.script }} /> : null}
      </body>
    </html>
  );
}

/** A whole document as HTML text. */
export function documentHtml(page: VNode): string {
  return `<!doctype html>${render(page)}`;
}
