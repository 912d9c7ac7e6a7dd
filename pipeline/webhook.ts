// Alerts POSTed as JSON to a webhook (Slack-compatible `text` included), with a timeout so a
// slow receiver never holds the worker.
import { alertText, type RaisedAlert } from '../compare/alerts';
import { ShadowdiffError } from '../core/errors';

export function webhookNotifier(url: string, timeoutMs = 5000): (alert: RaisedAlert) => Promise<void> {
  return async (alert) => {
    const text = `shadowdiff: ${alertText(alert)}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text, alert }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `webhook answered ${res.status}`, { status: res.status });
  };
}
