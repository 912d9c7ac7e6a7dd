// Addresses: of the servers shadowdiff listens with, and of the services it connects to.
import type { AddressInfo } from 'node:net';

/** The http:// URL a listening server answers on: `server.address()`, an IPv6 host in brackets. */
export function listeningUrl(a: AddressInfo): string {
  return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
}

/** Whether a listening host (without brackets) is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1';
}

/** A service URL fit for a message or a log: its password masked. */
export function redactUrl(url: string): string {
  return url.replace(/:[^:@/]+@/, ':***@');
}

/**
 * Whether an HTTP Host header names this machine's loopback (`localhost`, `127.0.0.1`, `[::1]`,
 * any port), or one of `names`. A server without a token answers only such hosts: a page on
 * another site whose name was rebound to 127.0.0.1 (DNS rebinding) sends its own name.
 */
export function isAllowedHost(host: string | undefined, names: readonly string[] = []): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return isLoopback(name.toLowerCase()) || names.some((n) => n.toLowerCase() === name.toLowerCase());
}
