// Live alerts from stored comparisons: the monitor's window (compare/alerts.ts) decides; an
// alert is logged, stored, and sent to the run's webhook and to the webhooks of the consumers
// its findings touch, none of which may hold up the worker.
import type { Logger } from '../../core/logger';
import { AlertMonitor, type AlertPolicy, alertText, type RaisedAlert } from '../../compare/alerts';
import type { CompiledRules, Comparison } from '../../compare/engine';
import { webhookNotifier } from '../webhook';
import type { Store } from '../../runtime/store/store';

export class AlertRelay {
  raised = 0;
  private readonly monitor: AlertMonitor;
  private readonly consumerHooks = new Map<string, (alert: RaisedAlert) => Promise<void>>();

  constructor(
    policy: AlertPolicy | undefined,
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly notify?: (alert: RaisedAlert) => Promise<void>,
  ) {
    this.monitor = new AlertMonitor(policy);
  }

  /** `rules`: the run's, whose consumers name their webhooks. */
  observe(c: Comparison, rules?: CompiledRules): void {
    const alert = this.monitor.observe(c, Date.now());
    if (!alert) return;
    this.raised += 1;
    this.logger.warn({ alert }, `ALERT ${alertText(alert)}`);
    void this.store.putAlert(alert).catch((err: Error) => this.logger.warn({ err: err.message }, 'could not store the alert'));
    void this.notify?.(alert).catch((err: Error) => this.logger.warn({ err: err.message }, 'alert webhook failed'));
    for (const name of alert.consumers ?? []) {
      const url = rules?.consumers.get(name)?.webhook;
      if (!url) continue;
      let hook = this.consumerHooks.get(url);
      if (!hook) this.consumerHooks.set(url, (hook = webhookNotifier(url)));
      void hook(alert).catch((err: Error) => this.logger.warn({ err: err.message, consumer: name }, "a consumer's alert webhook failed"));
    }
  }
}
