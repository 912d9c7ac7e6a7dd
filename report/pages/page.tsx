// A served page: the shared layout around a page's content, as HTML text.
import type { ComponentChildren } from 'preact';
import { documentHtml, Layout } from '../render/parts';

export function pageHtml(title: string, content: ComponentChildren, options: { refreshSeconds?: number | undefined } = {}): string {
  return documentHtml(
    <Layout title={`${title} — shadowdiff`} refreshSeconds={options.refreshSeconds}>
      {content}
    </Layout>,
  );
}
