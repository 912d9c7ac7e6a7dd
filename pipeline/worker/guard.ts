// The cutover guard (docs/cutover.md): a route's live share falls to 0 by itself, on every proxy
// instance, within seconds of
// - a request the candidate served live that did not match legacy (a wrong write in production),
//   or whose cutover was wired wrong (verdict error: written twice, or not at all);
// - the route's alert: its mismatch rate over the window, mismatches in a row, or a finding of
//   the critical severity or on a critical target (the alert policy's, compare/alerts.ts).
// It watches comparisons as they are made, before they are stored, so a store that is down does
// not hold it up. Each rollback is broadcast on the control channel with its evidence, logged,
// and POSTed to the webhook; it is repeated for a while for proxies that were away, and each
// proxy applies it once. Only a person resumes (shadowdiff cutover --resume).
import { randomUUID } from 'node:crypto';
import { AlertMonitor, type AlertPolicy, alertText } from '../../compare/alerts';
import { clipJson, type Comparison, SEVERITY_RANK } from '../../compare/engine';
import type { Logger } from '../../core/logger';
import type { ControlChannel, ControlMessage } from '../../runtime/bus/control';
import type { CutoverEvent } from '../../runtime/store/store';

export interface GuardOptions {
  control: ControlChannel;
  logger: Logger;
  /** The alert policy whose alerts roll a route back too (default: the worker's); false: only requests the candidate served wrong do. */
  alerts?: AlertPolicy | false | undefined;
  /** Where each rollback goes on the run's cutover timeline (the store; retried while it is down). */
  record?: ((event: CutoverEvent) => Promise<void>) | undefined;
  /** Where each rollback is POSTed besides the log (the alert webhook). */
  notify?: ((rollback: ControlMessage) => Promise<void>) | undefined;
  /** How long a rollback is repeated for proxies that were away; default 10 min. */
  repeatMs?: number;
  /** How often; default 5 s. */
  everyMs?: number;
  now?: () => number;
}

interface Active {
  message: ControlMessage;
  issued: number;
  until: number;
  sent: boolean;
  recorded: boolean;
}

export class Guard {
  rollbacks = 0;
  private readonly monitor: AlertMonitor | undefined;
  /** Per run and route: the rollback being repeated (one at a time; the proxy holds the share anyway). */
  private readonly active = new Map<string, Active>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  /** Runs with a cutover under way (a request the candidate served seen): the only ones the guard acts on. */
  private readonly cutoverRuns = new Set<string>();

  constructor(private readonly o: GuardOptions) {
    this.monitor = o.alerts === false ? undefined : new AlertMonitor(o.alerts);
    this.now = o.now ?? Date.now;
    this.timer = setInterval(() => this.repeat(), o.everyMs ?? 5_000);
    this.timer.unref();
  }

  /** One comparison, as it is made. */
  observe(c: Comparison): void {
    if (c.served === 'candidate') this.cutoverRuns.add(c.runId);
    if (!this.cutoverRuns.has(c.runId)) return;
    const alert = this.monitor?.observe(c, this.now());
    const servedWrong = c.served === 'candidate' && (c.verdict === 'mismatch' || c.verdict === 'error');
    if (!servedWrong && !alert) return;
    const key = `${c.runId}\u0000${c.route}`;
    // One decision per route every few seconds: a proxy that already holds the share ignores the
    // next, and one resumed since (the old decision it applied once) is rolled back by the new.
    const last = this.active.get(key);
    if (last && this.now() - last.issued < (this.o.everyMs ?? 5_000)) return;
    const worst = [...c.findings].sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]).slice(0, 3);
    const reason = servedWrong
      ? c.verdict === 'error'
        ? `a request the candidate served live went wrong: ${c.error ?? 'error'}`
        : `a request the candidate served live did not match legacy: ${worst.map((f) => `${f.target} ${f.field || f.path || '(whole effect)'} (${f.kind}, ${f.severity})`).join('; ')}`
      : `the route's alert fired: ${alertText(alert!)}`;
    const message: ControlMessage = {
      v: 1,
      type: 'rollback',
      id: randomUUID(),
      runId: c.runId,
      route: c.route,
      reason: reason.slice(0, 2000),
      by: 'guard',
      at: new Date(this.now()).toISOString(),
      evidence: {
        shadowIds: alert ? alert.examples : [c.shadowId],
        verdict: c.verdict,
        ...(c.served ? { served: c.served } : {}),
        findings: worst.map((f) => ({ target: f.target, field: f.field || f.path, kind: f.kind, severity: f.severity, legacy: clipJson(f.legacy, 120), candidate: clipJson(f.candidate, 120) })),
        ...(alert ? { alert: { reason: alert.reason, window: alert.window } } : {}),
      },
    };
    this.active.set(key, { message, issued: this.now(), until: this.now() + (this.o.repeatMs ?? 600_000), sent: false, recorded: !this.o.record });
    this.rollbacks += 1;
    this.o.logger.error({ rollback: message }, `GUARD rolls back ${c.route} in run ${c.runId}: ${message.reason}`);
    void this.o.notify?.(message).catch((err: Error) => this.o.logger.warn({ err: err.message }, 'the rollback webhook failed'));
    this.send(key);
  }

  private send(key: string): void {
    const a = this.active.get(key);
    if (!a) return;
    if (!a.recorded) {
      const m = a.message;
      this.o.record!({ runId: m.runId, at: m.at, kind: 'rollback', route: m.route, percent: 0, by: m.by, reason: m.reason, evidence: m.evidence }).then(
        () => void (a.recorded = true),
        (err: Error) => this.o.logger.warn({ err: err.message }, 'the guard could not put a rollback on the cutover timeline yet (the store); it tries again every few seconds'),
      );
    }
    this.o.control.publish(a.message).then(
      () => void (a.sent = true),
      (err: Error) => this.o.logger.warn({ err: err.message, route: a.message.route }, 'the guard could not broadcast a rollback yet; it tries again every few seconds'),
    );
  }

  /** Broadcasts each rollback again (proxies that were away hear it), until it is old. */
  private repeat(): void {
    const now = this.now();
    for (const [key, a] of this.active) {
      if (now > a.until && a.sent && a.recorded) this.active.delete(key);
      else this.send(key);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
