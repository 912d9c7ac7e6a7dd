// Live alerts from stored comparisons: the monitor's window (compare/alerts.ts) decides; an
// alert is logged, stored, and sent to the webhook, none of which may hold up the worker.
import type { Logger } from '../../core/logger';
import { AlertMonitor, type AlertPolicy, alertText, type RaisedAlert } from '../../compare/alerts';
import type { Comparison } from '../../compare/engine';
import type { Store } from '../../runtime/store/store';

export class AlertRelay {
  raised = 0;
  private readonly monitor: AlertMonitor;

  constructor(
    policy: AlertPolicy | undefined,
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly notify?: (alert: RaisedAlert) => Promise<void>,
  ) {
    this.monitor = new AlertMonitor(policy);
  }

  observe(c: Comparison): void {
    const alert = this.monitor.observe(c, Date.now());
    if (!alert) return;
    this.raised += 1;
    this.logger.warn({ alert }, `ALERT ${alertText(alert)}`);
    void this.store.putAlert(alert).catch((err: Error) => this.logger.warn({ err: err.message }, 'could not store the alert'));
    void this.notify?.(alert).catch((err: Error) => this.logger.warn({ err: err.message }, 'alert webhook failed'));
  }
}
