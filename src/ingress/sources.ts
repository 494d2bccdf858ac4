import { BlockList, isIP, type Socket } from 'node:net';

/**
 * Who is posting: the peer of the connection, or, behind a trusted reverse proxy (an Ingress, a TLS
 * front end), the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. The
 * left-most entry is whatever the client wrote and is never believed. `Forwarded` is ignored;
 * without trusted proxies `X-Forwarded-For` is ignored altogether (CONTRACT section 2).
 */
export class SourcePolicy {
  readonly #allowed: BlockList | null;
  readonly #trusted: BlockList | null;
  readonly #open = new Map<string, number>();

  constructor(
    allowed: readonly string[] | null,
    trusted: readonly string[] | null,
    private readonly maxPerSource: number,
  ) {
    this.#allowed = allowed ? blockList(allowed) : null;
    this.#trusted = trusted ? blockList(trusted) : null;
  }

  isTrustedProxy(address: string | undefined): boolean {
    return this.#trusted !== null && address !== undefined && contains(this.#trusted, address);
  }

  /** The client address of a request from `peer` with this `X-Forwarded-For`. */
  clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined): string | undefined {
    const direct = plain(peer);
    if (!this.isTrustedProxy(direct) || forwardedFor === undefined) return direct;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
      .split(',')
      .map((h) => plain(h.trim()))
      .filter((h): h is string => h !== undefined && isIP(h) !== 0);
    for (let i = hops.length - 1; i >= 0; i--) if (!this.isTrustedProxy(hops[i])) return hops[i];
    return hops[0] ?? direct;
  }

  /** MIST_SOURCE_ALLOW (null = anyone). */
  allows(address: string | undefined): boolean {
    return this.#allowed === null || (address !== undefined && contains(this.#allowed, address));
  }

  /**
   * At accept time on the webhook port: a peer that is not a trusted proxy and not allowed is cut
   * at once (its idle sockets cannot crowd out Mist's), and no peer holds more than
   * HTTP_MAX_CONNECTIONS_PER_SOURCE sockets. Returns why a socket was refused, or null.
   */
  admit(socket: Socket): string | null {
    const peer = plain(socket.remoteAddress);
    if (peer === undefined) return 'no peer address';
    const trusted = this.isTrustedProxy(peer);
    if (!trusted && !this.allows(peer)) return 'source outside MIST_SOURCE_ALLOW';
    if (trusted) return null;
    const open = this.#open.get(peer) ?? 0;
    if (open >= this.maxPerSource) return 'too many connections from one source (HTTP_MAX_CONNECTIONS_PER_SOURCE)';
    this.#open.set(peer, open + 1);
    socket.once('close', () => {
      const left = (this.#open.get(peer) ?? 1) - 1;
      if (left <= 0) this.#open.delete(peer);
      else this.#open.set(peer, left);
    });
    return null;
  }
}

function blockList(sources: readonly string[]): BlockList {
  const list = new BlockList();
  for (const source of sources) {
    const [address, prefix] = source.split('/');
    const type = isIP(address!) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(prefix), type);
  }
  return list;
}

function contains(list: BlockList, address: string): boolean {
  return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** IPv4 clients of a dual-stack socket appear as ::ffff:a.b.c.d: the IPv4 address is what lists name. */
function plain(address: string | undefined): string | undefined {
  if (!address) return undefined;
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
