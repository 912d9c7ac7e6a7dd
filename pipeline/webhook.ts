// Alerts POSTed as JSON to a webhook (Slack-compatible `text` included), with a timeout so a
// slow receiver never holds the worker.
import type { ControlMessage } from '../runtime/bus/control';
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

/** POSTs the guard's rollbacks (`{text, rollback}`) as alerts are POSTed, to the same webhook. */
export function rollbackNotifier(url: string, timeoutMs = 5000): (rollback: ControlMessage) => Promise<void> {
  return async (rollback) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `shadowdiff: the cutover guard rolled back ${rollback.route} in run ${rollback.runId}: ${rollback.reason}`, rollback }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `webhook answered ${res.status}`, { status: res.status });
  };
}
