// Who consumes the events today, from RabbitMQ's management HTTP API: the queues bound to the
// exchanges the services publish to, with their binding keys and the applications connected to
// consume them, proposed as consumers (compare/engine/consumers.ts). Read-only: it only GETs.
import { ShadowdiffError } from '../../core/errors';
import { redactUrl } from '../../core/net';
import type { ConsumerInput } from '../../compare/engine';

export interface AmqpDiscoveryOptions {
  /** The management API, e.g. http://guest:guest@127.0.0.1:15672 (credentials in the URL or in `user`/`password`). */
  url: string;
  vhost?: string;
  /** Exchanges to follow; default every exchange but the broker's own (amq.*, the default) and shadowdiff's (`ignorePrefix`). */
  exchanges?: readonly string[];
  /** shadowdiff's own exchanges and queues, left out. */
  ignorePrefix?: string;
  timeoutMs?: number;
}

export interface AmqpDiscovery {
  consumers: ConsumerInput[];
  /** What it looked at, for the person reading the proposal. */
  seen: { exchanges: string[]; queues: number; bindings: number };
  /** What it could not tell (shown, and written into each entry's note). */
  limits: string[];
}

interface Exchange {
  name: string;
  type: string;
}
interface Binding {
  source: string;
  destination: string;
  destination_type: 'queue' | 'exchange';
  routing_key: string;
}
interface QueueDetail {
  name: string;
  consumers?: number;
  consumer_details?: { channel_details?: { connection_name?: string; peer_host?: string; user?: string } }[];
}
interface Connection {
  name: string;
  client_properties?: { connection_name?: string; product?: string; information?: string };
}

export const AMQP_LIMITS = [
  'a binding shows which routing keys reach a queue, not which fields its consumer reads: each proposal reads the whole message until you narrow its "paths"',
  'it sees the consumers connected now: one that connects at night, or reads a queue through a shovel or federation, is not attached to the queue',
  'a queue nobody consumes right now is still proposed, under its own name',
];

export async function discoverAmqpConsumers(o: AmqpDiscoveryOptions): Promise<AmqpDiscovery> {
  const api = managementClient(o.url, o.timeoutMs ?? 10_000);
  const vhost = encodeURIComponent(o.vhost ?? '/');
  const prefix = o.ignorePrefix ?? 'shadowdiff';
  const all = await api.get<Exchange[]>(`/api/exchanges/${vhost}`);
  const known = new Map(all.map((e) => [e.name, e]));
  for (const name of o.exchanges ?? []) {
    if (!known.has(name)) throw new ShadowdiffError('SHADOWDIFF_USAGE', `exchange ${JSON.stringify(name)} does not exist on ${redactUrl(o.url)} (vhost ${o.vhost ?? '/'}); it has: ${[...known.keys()].filter((n) => n).join(', ') || 'none'}.`);
  }
  const exchanges = o.exchanges?.length ? o.exchanges.map((n) => known.get(n)!) : all.filter((e) => e.name !== '' && !e.name.startsWith('amq.') && !e.name.startsWith(prefix));
  const connections = new Map<string, Connection>();
  for (const c of await api.get<Connection[]>('/api/connections').catch(() => [] as Connection[])) connections.set(c.name, c);

  // queue → the targets that reach it
  const targetsOf = new Map<string, Set<string>>();
  let bindings = 0;
  for (const e of exchanges) {
    for (const b of await api.get<Binding[]>(`/api/exchanges/${vhost}/${encodeURIComponent(e.name)}/bindings/source`)) {
      if (b.destination_type !== 'queue' || b.destination.startsWith(prefix)) continue;
      bindings += 1;
      let set = targetsOf.get(b.destination);
      if (!set) targetsOf.set(b.destination, (set = new Set()));
      set.add(targetFor(e, b.routing_key));
    }
  }

  // An application (by its connection name) consuming several queues is one consumer.
  const byApp = new Map<string, { queues: string[]; targets: Set<string>; hosts: Set<string>; users: Set<string> }>();
  for (const [queue, targets] of [...targetsOf].sort(([a], [b]) => a.localeCompare(b))) {
    const detail = await api.get<QueueDetail>(`/api/queues/${vhost}/${encodeURIComponent(queue)}`);
    const apps = new Map<string, { host?: string; user?: string }>();
    for (const d of detail.consumer_details ?? []) {
      const ch = d.channel_details ?? {};
      const conn = ch.connection_name ? connections.get(ch.connection_name) : undefined;
      const app = conn?.client_properties?.connection_name ?? conn?.client_properties?.product ?? undefined;
      apps.set(app ?? `queue ${queue}`, { ...(ch.peer_host ? { host: ch.peer_host } : {}), ...(ch.user ? { user: ch.user } : {}) });
    }
    if (apps.size === 0) apps.set(`queue ${queue}`, {});
    for (const [app, where] of apps) {
      let entry = byApp.get(app);
      if (!entry) byApp.set(app, (entry = { queues: [], targets: new Set(), hosts: new Set(), users: new Set() }));
      entry.queues.push(queue);
      for (const t of targets) entry.targets.add(t);
      if (where.host) entry.hosts.add(where.host);
      if (where.user) entry.users.add(where.user);
    }
  }

  const names = new Set<string>();
  const consumers: ConsumerInput[] = [...byApp].map(([app, e]) => {
    const named = app.startsWith('queue ') ? app.slice(6) : app;
    const name = uniqueName(consumerName(named), names);
    const connected = e.hosts.size ? `consumed from ${[...e.hosts].join(', ')}${e.users.size ? ` as ${[...e.users].join(', ')}` : ''}` : 'no consumer connected when discovered';
    return {
      name,
      owner: app.startsWith('queue ') ? `unknown: whoever consumes queue ${named}` : `unknown: the team running ${app}`,
      reads: [...e.targets].sort().map((target) => ({ target, kind: 'message' as const })),
      note: `discovered on ${redactUrl(o.url)}: queue(s) ${e.queues.join(', ')}; ${connected}. Set "owner", and narrow each read to the "paths" it uses.`,
    };
  });
  return { consumers, seen: { exchanges: exchanges.map((e) => e.name), queues: targetsOf.size, bindings }, limits: AMQP_LIMITS };
}

/**
 * A binding as a consumers target (`exchange/routingKey`, globs with `*`): a topic binding's
 * `*` and `#` both become `*` (broader than a topic match: it may include keys that do not reach
 * the queue); a fanout or headers exchange sends every key.
 */
export function targetFor(e: Exchange, key: string): string {
  if (e.type === 'fanout' || e.type === 'headers') return `${e.name}/*`;
  if (e.type === 'topic') return `${e.name}/${key.replace(/#/g, '*').replace(/\*(\.\*)+/g, '*')}`;
  return `${e.name}/${key}`;
}

function consumerName(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 90);
  return cleaned || 'consumer';
}

function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}

function managementClient(url: string, timeoutMs: number) {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new ShadowdiffError('SHADOWDIFF_USAGE', `--amqp-management ${JSON.stringify(url)} is not a URL: give the management API's, e.g. http://guest:guest@127.0.0.1:15672.`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new ShadowdiffError('SHADOWDIFF_USAGE', `--amqp-management needs the management plugin's http(s) URL (port 15672 by default), not ${base.protocol}//.`);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(base.username || 'guest')}:${decodeURIComponent(base.password || 'guest')}`).toString('base64')}`;
  base.username = '';
  base.password = '';
  const root = base.toString().replace(/\/$/, '');
  return {
    async get<T>(path: string): Promise<T> {
      let res: Response;
      try {
        res = await fetch(`${root}${path}`, { headers: { authorization: auth, accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
      } catch (err) {
        throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `RabbitMQ's management API is not reachable at ${redactUrl(url)}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}. Is the management plugin on (rabbitmq-plugins enable rabbitmq_management)?`);
      }
      if (res.status === 401) throw new ShadowdiffError('SHADOWDIFF_USAGE', `RabbitMQ's management API at ${redactUrl(url)} refused the credentials (401): give a user with the "monitoring" tag in the URL.`);
      if (!res.ok) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `RabbitMQ's management API answered ${res.status} for ${path}.`);
      return (await res.json()) as T;
    },
  };
}
