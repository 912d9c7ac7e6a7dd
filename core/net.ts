// Addresses of the servers shadowdiff listens with.
import type { AddressInfo } from 'node:net';

/** The http:// URL a listening server answers on: `server.address()`, an IPv6 host in brackets. */
export function listeningUrl(a: AddressInfo): string {
  return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
}
