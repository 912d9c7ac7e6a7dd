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
