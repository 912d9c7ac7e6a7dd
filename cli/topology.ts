// `shadowdiff topology`: what a prefix holds on RabbitMQ (its exchanges and queues, with the
// messages and consumers of each), and `--delete` to remove it once a shadow run is over. It
// refuses without --yes, and refuses while a worker or publisher is attached: deleting a queue
// drops what it holds, and those messages are reported, never dropped quietly.
import amqp from 'amqplib';
import { Command } from 'commander';
import { configFromEnv, resolveConfig } from '../core/config';
import { ShadowdiffError } from '../core/errors';
import { redactUrl } from '../core/net';
import { deleteParts, inspectTopology, type TopologyPart } from '../runtime/bus/topology';
import type { CliIo } from './io';

interface TopologyFlags {
  prefix?: string;
  delete?: boolean;
  yes?: boolean;
}

export function topologyCommand(io: CliIo): Command {
  return new Command('topology')
    .description('list what a prefix holds on RabbitMQ (AMQP_URL); --delete removes it (refuses without --yes, or while consumers are attached)')
    .option('--prefix <name>', 'the exchange and queue prefix (default: SHADOWDIFF_PREFIX, else "shadowdiff")')
    .option('--delete', 'delete the prefix\'s exchanges and queues')
    .option('--yes', 'really delete (without it, --delete only says what it would remove)')
    .action(async (flags: TopologyFlags) => {
      const config = resolveConfig(configFromEnv(io.env), flags.prefix ? { prefix: flags.prefix } : {});
      if (!config.amqpUrl) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'topology talks to RabbitMQ: set AMQP_URL (e.g. amqp://guest:guest@127.0.0.1:5672).');
      let model: amqp.ChannelModel;
      try {
        model = await amqp.connect(config.amqpUrl);
      } catch (err) {
        throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `RabbitMQ is not reachable at ${redactUrl(config.amqpUrl)}: ${(err as Error).message}.`);
      }
      try {
        const parts = await inspectTopology(model, config.prefix);
        if (!parts.length) {
          io.out(`nothing of prefix "${config.prefix}" on ${redactUrl(config.amqpUrl)}`);
          return;
        }
        for (const p of parts) io.out(describe(p));
        if (!flags.delete) return;
        const attached = parts.filter((p) => (p.consumers ?? 0) > 0);
        if (attached.length) {
          throw new ShadowdiffError('SHADOWDIFF_BUSY', `not deleting prefix "${config.prefix}": ${attached.map((p) => `${p.name} has ${p.consumers} consumer(s)`).join(', ')}. Stop the workers (and the services publishing to it) first.`);
        }
        const messages = parts.reduce((n, p) => n + (p.messages ?? 0), 0);
        if (!flags.yes) {
          io.err(`would delete ${parts.length} exchange(s) and queue(s) of prefix "${config.prefix}"${messages ? `, dropping ${messages} message(s) they hold` : ''}; run again with --yes to do it.`);
          io.exitCode(2);
          return;
        }
        const dropped = await deleteParts(model, parts);
        io.out(`deleted ${parts.length} exchange(s) and queue(s) of prefix "${config.prefix}"${dropped ? `; ${dropped} message(s) they held were dropped` : ''}`);
      } finally {
        await model.close().catch(() => undefined);
      }
    });
}

function describe(p: TopologyPart): string {
  return p.kind === 'exchange' ? `exchange ${p.name}` : `queue    ${p.name}  ${p.messages} message(s), ${p.consumers} consumer(s)`;
}
