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

  /**
   * The client address of a request from `peer` with this `X-Forwarded-For`, walking the hops from
   * the right past trusted proxies. A hop is an address, with a port or in brackets as proxies
   * write them (`198.51.100.7:51234`, `[2001:db8::7]:443`); a hop that is none of these (`unknown`,
   * empty, garbage) ends the walk with a refusal: skipping it would let the hop before it, which
   * the client may have written, be believed.
   */
  clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined): { address: string | undefined } | { unparseable: string } {
    const direct = plain(peer);
    if (!this.isTrustedProxy(direct) || forwardedFor === undefined) return { address: direct };
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((h) => h.trim());
    for (let i = hops.length - 1; i >= 0; i--) {
      const address = hopAddress(hops[i]!);
      if (address === null) return { unparseable: hops[i]! };
      if (!this.isTrustedProxy(address)) return { address };
    }
    return { address: direct };
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

/** An X-Forwarded-For hop's address (port and brackets stripped), or null when it is none. */
export function hopAddress(hop: string): string | null {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(hop);
  if (bracketed) return isIP(bracketed[1]!) === 6 ? plain(bracketed[1]) ?? null : null;
  if (isIP(hop) !== 0) return plain(hop) ?? null;
  const withPort = /^([\d.]+):\d{1,5}$/.exec(hop);
  if (withPort && isIP(withPort[1]!) === 4) return withPort[1]!;
  return null;
}

/** IPv4 clients of a dual-stack socket appear as ::ffff:a.b.c.d: the IPv4 address is what lists name. */
function plain(address: string | undefined): string | undefined {
  if (!address) return undefined;
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
