// `shadowdiff consumers discover`: propose a consumers file from what the broker (and, where it
// lets us, MongoDB) shows of who reads the data today. `shadowdiff consumers check FILE`: validate
// a consumers file and say what it declares. docs/consumers.md.
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { MongoClient } from 'mongodb';
import { compileRules, type ConsumerInput } from '../compare/engine';
import { ShadowdiffError } from '../core/errors';
import { redactUrl } from '../core/net';
import { discoverAmqpConsumers } from '../runtime/discovery/rabbitmq';
import { discoverMongoReaders } from '../runtime/discovery/mongodb';
import { commandEnv } from './env';
import type { CliIo } from './io';
import { numberFlag } from './options';
import { loadConsumersFile } from './rules-file';

interface DiscoverFlags {
  amqpManagement?: string;
  vhost: string;
  exchange: string[];
  prefix: string;
  mongodb?: string;
  db?: string;
  sampleSeconds: number;
  ignoreApp: string[];
  out?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function consumersCommand(io: CliIo): Command {
  const cmd = new Command('consumers').description('who reads the data: discover the consumers of a system, or check a consumers file (docs/consumers.md)');
  cmd
    .command('discover')
    .description("propose a consumers file from RabbitMQ's management API (the queues bound to the services' exchanges and who consumes them) and, where it allows, MongoDB's profiler and $currentOp")
    .option('--amqp-management <url>', 'the management API, e.g. http://guest:guest@127.0.0.1:15672 (env SHADOWDIFF_AMQP_MANAGEMENT)')
    .option('--vhost <name>', 'the virtual host', '/')
    .option('--exchange <name>', "an exchange the services publish to; repeatable (default: every exchange but the broker's own and shadowdiff's)", collect, [])
    .option('--prefix <name>', "shadowdiff's own exchanges and queues, left out", 'shadowdiff')
    .option('--mongodb <url>', 'also list the applications that read the services\' collections (env MONGODB_URL is not read: name it)')
    .option('--db <name>', 'the database the services write (with --mongodb)')
    .option('--sample-seconds <n>', 'how long to sample $currentOp (with --mongodb)', numberFlag('sample-seconds', { min: 0, max: 600 }), 5)
    .option('--ignore-app <name>', 'an appName to leave out, such as the services under test; repeatable', collect, [])
    .option('--out <file>', 'write the proposal to a file instead of stdout')
    .action(async (flags: DiscoverFlags) => {
      const management = flags.amqpManagement ?? commandEnv(io.env).amqpManagement;
      if (!management && !flags.mongodb) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'consumers discover needs a source: --amqp-management URL (RabbitMQ\'s management API) and/or --mongodb URL --db NAME.');
      if (flags.mongodb && !flags.db) throw new ShadowdiffError('SHADOWDIFF_USAGE', '--mongodb needs --db: the database whose collections the services write.');
      const consumers: ConsumerInput[] = [];
      const limits: string[] = [];
      if (management) {
        const found = await discoverAmqpConsumers({ url: management, vhost: flags.vhost, exchanges: flags.exchange, ignorePrefix: flags.prefix });
        io.err(`RabbitMQ ${redactUrl(management)}: ${found.seen.exchanges.length} exchange(s) (${found.seen.exchanges.join(', ') || 'none'}), ${found.seen.bindings} binding(s) to ${found.seen.queues} queue(s): ${found.consumers.length} consumer(s) proposed.`);
        consumers.push(...found.consumers);
        limits.push(...found.limits.map((l) => `RabbitMQ: ${l}`));
      }
      if (flags.mongodb) {
        const client = new MongoClient(flags.mongodb, { appName: 'shadowdiff', serverSelectionTimeoutMS: 10_000 });
        try {
          await client.connect().catch((err: Error) => {
            throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `MongoDB is not reachable at ${redactUrl(flags.mongodb!)}: ${err.message}.`);
          });
          const found = await discoverMongoReaders({ client, db: flags.db!, sampleSeconds: flags.sampleSeconds, ignoreApps: flags.ignoreApp });
          io.err(`MongoDB ${redactUrl(flags.mongodb)} database ${flags.db}: profiler ${found.sources.profiler}; $currentOp ${found.sources.currentOp}: ${found.consumers.length} reader(s) proposed.`);
          // An application seen on both reads both: one entry.
          for (const c of found.consumers) {
            const same = consumers.find((x) => x.name === c.name);
            if (same) same.reads.push(...c.reads);
            else consumers.push(c);
          }
          limits.push(...found.limits.map((l) => `MongoDB: ${l}`));
        } finally {
          await client.close().catch(() => undefined);
        }
      }
      // What it proposes must load as it is: validate before anyone edits it.
      compileRules({ consumers }, 'the proposal');
      for (const l of limits) io.err(`cannot see: ${l}`);
      const text = `${JSON.stringify({ version: 1, consumers }, null, 2)}\n`;
      if (flags.out) {
        await writeFile(flags.out, text);
        io.err(`wrote ${consumers.length} consumer(s) to ${flags.out}: set each "owner" and narrow "paths" to the fields it uses, then pass it with --consumers.`);
      } else io.out(text.trimEnd());
    });
  cmd
    .command('check')
    .description('validate a consumers file and list what it declares')
    .argument('<file>', 'the consumers file')
    .action(async (file: string) => {
      const consumers = await loadConsumersFile(file);
      compileRules({ consumers }, file);
      for (const c of consumers) {
        io.out(`${c.name} (${c.owner}${c.critical ? ', critical' : ''}${c.webhook ? ', webhook' : ''}):`);
        for (const r of c.reads) io.out(`  ${r.target}${r.kind ? ` [${r.kind}]` : ''}: ${r.paths?.join(', ') ?? '(whole effect)'}${r.schema !== undefined ? ' — schema' : ''}`);
      }
      io.out(`${file}: ${consumers.length} consumer(s), ${consumers.reduce((n, c) => n + c.reads.length, 0)} read(s), valid.`);
    });
  return cmd;
}

