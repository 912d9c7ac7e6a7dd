// Alerts POSTed as JSON to a webhook (Slack-compatible `text` included), with a timeout so a
// slow receiver never holds the worker.
import type { RaisedAlert } from '../compare/alerts';
import { ShadowdiffError } from '../core/errors';

export function webhookNotifier(url: string, timeoutMs = 5000): (alert: RaisedAlert) => Promise<void> {
  return async (alert) => {
    const text = `shadowdiff: ${alert.route} in run ${alert.runId}: ${(alert.window.rate * 100).toFixed(1)}% of ${alert.window.compared} requests mismatch (threshold ${(alert.threshold * 100).toFixed(1)}%). Examples: ${alert.examples.join(', ')}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text, alert }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `webhook answered ${res.status}`, { status: res.status });
  };
}
