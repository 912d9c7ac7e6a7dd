// `shadowdiff cutover`: show or change a running proxy's live shares through its admin API
// (docs/cutover.md): set a share, roll one back by hand, resume one the guard rolled back, read
// the audit trail. Every change carries a reason and a name; the token comes from SHADOWDIFF_ADMIN_TOKEN.
import { userInfo, hostname } from 'node:os';
import { Command } from 'commander';
import type { AuditEntry, CutoverState, Hold } from '../capture/proxy/cutover';
import { ShadowdiffError } from '../core/errors';
import { readTextFile } from '../core/files';
import { parseJson } from '../core/json';
import { adminCall } from './admin-client';
import { parsePlan, runPlan } from '../pipeline/cutover-plan';
import { openRunStore } from './store';
import { commandEnv } from './env';
import type { CliIo } from './io';
import { percentFlag as percent } from './options';

interface CutoverFlags {
  admin: string;
  plan?: string;
  route?: string;
  percent?: number;
  rollback?: boolean;
  resume?: boolean;
  reason?: string;
  by?: string;
  audit?: boolean;
  json?: boolean;
}

export function cutoverCommand(io: CliIo): Command {
  return new Command('cutover')
    .description('show or change the share of live traffic the candidate serves (docs/cutover.md); token from env SHADOWDIFF_ADMIN_TOKEN')
    .requiredOption('--admin <url>', 'the proxy\'s admin API, e.g. http://127.0.0.1:9090')
    .option('--route <pattern>', 'the route rule to change, e.g. "POST /orders" (default: the global share)')
    .option('--percent <pct>', 'set the share, 0-100 (with --resume: the share to resume at; default 0)', percent('percent'))
    .option('--rollback', 'drop the share to 0 and hold it there until --resume')
    .option('--resume', 'lift a hold the guard (or --rollback) put on the share')
    .option('--reason <text>', 'why: kept in the audit trail (required for a change)')
    .option('--by <name>', 'who: kept in the audit trail (default: your user name on this host)')
    .option('--audit', 'print the audit trail: every change of share, who, when, why')
    .option('--plan <file>', 'run a ramp plan (JSON): steps with dwell times and gates, read from the run\'s rollup in the store (MONGODB_URL); stops on the guard\'s rollback')
    .option('--json', 'print the proxy\'s answer as JSON')
    .action(async (flags: CutoverFlags) => {
      const actions = [flags.percent !== undefined && !flags.resume, flags.rollback, flags.resume, flags.audit, flags.plan !== undefined].filter(Boolean).length;
      if (actions > 1) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'give one of --percent, --rollback, --resume, --audit or --plan.');
      const token = commandEnv(io.env).adminToken;
      const by = flags.by ?? `${safeUser()}@${hostname()}`;
      if (flags.plan !== undefined) {
        const plan = parsePlan(parseJson(await readTextFile(flags.plan, 'plan'), flags.plan), flags.plan);
        if (!token) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'a ramp plan changes the live share: set SHADOWDIFF_ADMIN_TOKEN.');
        const { store, close } = await openRunStore(io, 'cutover --plan', undefined);
        try {
          const outcome = await runPlan(plan, {
            read: async () => JSON.parse(await adminCall(flags.admin, token, '/v1/cutover')) as CutoverState & { runId: string },
            set: async (percent, reason) => void (await adminCall(flags.admin, token, '/v1/cutover', { method: 'PUT', body: { ...(plan.route !== undefined ? { route: plan.route } : {}), percent, reason, by }, what: 'the plan' })),
            store,
            log: (line) => io.err(`${new Date().toISOString()} ${line}`),
            by,
            file: flags.plan,
            stopped: io.stopSignal(),
          });
          if (outcome !== 'done') io.exitCode(1);
        } finally {
          await close();
        }
        return;
      }
      if (flags.audit) {
        const trail = JSON.parse(await adminCall(flags.admin, token, '/v1/cutover/audit')) as AuditEntry[];
        io.out(flags.json ? JSON.stringify(trail, null, 2) : trail.map(auditLine).join('\n') || 'no change of share yet');
        return;
      }
      const change = actions === 1;
      if (change && (flags.reason === undefined || flags.reason.trim().length < 3)) {
        throw new ShadowdiffError('SHADOWDIFF_USAGE', 'a change of the live share needs --reason "…": it goes in the audit trail with your name.');
      }
      const body = { ...(flags.route !== undefined ? { route: flags.route } : {}), reason: flags.reason, by };
      const text = !change
        ? await adminCall(flags.admin, token, '/v1/cutover')
        : flags.rollback
          ? await adminCall(flags.admin, token, '/v1/cutover/rollback', { method: 'POST', body, what: 'a rollback' })
          : flags.resume
            ? await adminCall(flags.admin, token, '/v1/cutover/resume', { method: 'POST', body: { ...body, ...(flags.percent !== undefined ? { percent: flags.percent } : {}) }, what: 'resuming' })
            : await adminCall(flags.admin, token, '/v1/cutover', { method: 'PUT', body: { ...body, percent: flags.percent }, what: 'changing the live share' });
      io.out(flags.json ? text : describe(JSON.parse(text) as CutoverState & { changed?: boolean; audit?: AuditEntry[] }));
    });
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

function held(h: Hold | undefined): string {
  return h ? ` HELD since ${h.at} by ${h.by}: ${h.reason}` : '';
}

/** The shares as a person reads them. */
export function describe(s: CutoverState & { changed?: boolean; audit?: AuditEntry[] }): string {
  const lines = [`live share (served by the candidate):`, `  ${s.held ? 0 : s.percent}%  every other request${held(s.held)}`];
  for (const r of s.routes) lines.push(`  ${r.held ? 0 : r.percent}%  ${r.route}${held(r.held)}`);
  lines.push(`sticky by: ${s.key === undefined ? 'nothing (each request at random)' : 'header' in s.key ? `header ${s.key.header}` : 'cookie' in s.key ? `cookie ${s.key.cookie}` : `path /${s.key.path}/`}`);
  if (s.changed === false) lines.push('nothing changed: that share was already at 0 or held');
  const last = s.audit?.at(-1);
  if (last) lines.push(`last change: ${auditLine(last)}`);
  return lines.join('\n');
}

function auditLine(e: AuditEntry): string {
  return `${e.at}  ${e.action.padEnd(8)} ${e.route}  ${e.from}% → ${e.to}%  by ${e.by}: ${e.reason}`;
}
