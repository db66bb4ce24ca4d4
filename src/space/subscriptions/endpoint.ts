import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { Agent } from 'undici';

/**
 * Where a rest-hook Subscription may send its notifications. Any app a
 * patient uses may subscribe, so an endpoint is someone else's URL that the
 * server will call from inside its own network: unless the deployment allows
 * it (SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS, for development and tests), the
 * endpoint is https and its host a public address, never loopback,
 * private, link-local, unspecified, multicast or reserved, nor `localhost`.
 * Checked on the URL when the Subscription is written (`endpointProblem`),
 * and again on the address actually connected to at each delivery
 * (`deliveryAgent`), as a name may resolve elsewhere by then (DNS rebinding).
 */

/** IPv4 and IPv6 ranges that are not the public Internet (IANA special-purpose registries). */
const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // shared address space (carrier-grade NAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata services)
  ['172.16.0.0', 12], // private (RFC 1918)
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // private (RFC 1918)
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
/**
 * IPv6 is judged the other way round: only global unicast (2000::/3) is the
 * public Internet, less these ranges in it that tunnel to addresses the server
 * cannot judge (6to4, Teredo) or are not routed (documentation, IETF
 * assignments). Everything else (loopback, unique local, link-local,
 * multicast, local-use NAT64 64:ff9b:1::/48, IPv4-translated ::ffff:0:0:0/96,
 * discard 100::/64, ...) is outside, whatever new range IANA adds there.
 */
const NON_PUBLIC_GLOBAL = new BlockList();
for (const [network, prefix] of [
  ['2001::', 23], // IETF protocol assignments: Teredo (2001::/32), ORCHID, benchmarking
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: reaches the IPv4 address it embeds
  ['3fff::', 20], // documentation
] as const) NON_PUBLIC_GLOBAL.addSubnet(network, prefix, 'ipv6');

/** Whether an IP address (either family) is outside the public Internet; anything that is not an address counts as outside. */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return NON_PUBLIC.check(address, 'ipv4');
  if (family !== 6) return true;
  const bare = address.split('%', 1)[0]!;
  const words = ipv6Words(bare);
  // IPv4-mapped (::ffff:a.b.c.d) and the well-known NAT64 prefix (64:ff9b::/96) reach the IPv4 address in their last 32 bits.
  const mapped = words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff;
  const nat64 = words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((w) => w === 0);
  if (mapped || nat64) return NON_PUBLIC.check([words[6]! >> 8, words[6]! & 0xff, words[7]! >> 8, words[7]! & 0xff].join('.'), 'ipv4');
  if ((words[0]! & 0xe000) !== 0x2000) return true;
  return NON_PUBLIC_GLOBAL.check(bare, 'ipv6');
}

/** The eight 16-bit words of a valid IPv6 address (isIP 6), a dotted IPv4 tail included. */
function ipv6Words(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::', 2);
  const first = head ? head.split(':') : [];
  const last = tail ? tail.split(':') : [];
  const groups = tail === undefined ? first : [...first, ...Array<string>(8 - first.length - last.length).fill('0'), ...last];
  return groups.map((g) => parseInt(g, 16));
}

/** `localhost` and the names under it (RFC 6761: they resolve to loopback), with or without the final dot. */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/** A URL's host as an address when it is one (`[::1]` -> `::1`); the URL parser has already turned `2130706433` or `0x7f.1` into dotted form. */
function hostAddress(url: URL): string | undefined {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(host) ? host : undefined;
}

/**
 * Why the server will not notify `endpoint`, or undefined when it may: not
 * an http(s) URL; http, or a host that is `localhost` or a non-public address,
 * unless `allowPrivate`. Names are not resolved here: that is done at
 * delivery, on the address connected to.
 */
export function endpointProblem(endpoint: unknown, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(typeof endpoint === 'string' ? endpoint : '');
  } catch {
    return 'A rest-hook Subscription needs an http(s) channel.endpoint';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'A rest-hook Subscription needs an http(s) channel.endpoint';
  if (allowPrivate) return undefined;
  const address = hostAddress(url);
  if (isLocalhostName(url.hostname) || (address !== undefined && isNonPublicAddress(address))) {
    return 'Subscription.channel.endpoint must be on the public Internet: loopback, private, link-local, unspecified, multicast and reserved addresses, and localhost, are refused';
  }
  if (url.protocol !== 'https:') return 'Subscription.channel.endpoint must be an https URL: notifications may carry health data';
  return undefined;
}

/** Thrown at delivery when the endpoint may not be called (its URL, or the address its name resolves to). */
export class EndpointRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EndpointRefusedError';
  }
}

/**
 * A `lookup` for net/tls.connect that fails when any address the name
 * resolves to is not public, so that the connection is only ever made to a
 * checked address (the one connected to, whichever of them that is).
 */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    if (!addresses.length || addresses.some((a) => isNonPublicAddress(a.address))) {
      return callback(Object.assign(new EndpointRefusedError('refused: the endpoint\'s host resolves to a non-public address'), { code: 'ENONPUBLIC' }), []);
    }
    if (options.all) return callback(null, addresses);
    return callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

/**
 * What the delivery log (`$deliveries`, read by the subscriber) says of a
 * failed attempt. With private endpoints refused, a name that does not
 * resolve and one that resolves inside the server's network get the same
 * words: the subscriber must not learn which names the server's DNS knows.
 */
export function deliveryError(err: unknown, allowPrivate: boolean): string {
  const code = (err as { code?: unknown } | null)?.code;
  const unresolved = code === 'ENONPUBLIC' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENODATA';
  if (!allowPrivate && unresolved) return 'refused: the endpoint\'s host does not resolve to a public address';
  return err instanceof Error ? err.message.slice(0, 300) : 'delivery failed';
}

/**
 * The connection pool deliveries go through: with private endpoints refused,
 * every name is resolved by `publicOnlyLookup` (an address literal in the URL
 * is checked by `endpointProblem`, as net.connect does not look it up).
 */
export function deliveryAgent(allowPrivate: boolean): Agent {
  return new Agent(allowPrivate ? {} : { connect: { lookup: publicOnlyLookup } });
}

/**
 * Names of headers the server sets itself to frame each delivery, or that
 * would send it somewhere else than the endpoint's host (`Host` to a shared
 * front-end): a Subscription may not set them.
 */
const FRAMING_HEADERS: ReadonlySet<string> = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'proxy-connection']);

/** `Name: value`: a token, and printable ASCII or tabs (no CR, LF or other control character). */
const HEADER_LINE = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+):([\t\x20-\x7e]*)$/;

/** A channel header as the server sends it, or undefined when it may not be sent. */
export function parseChannelHeader(line: unknown): [string, string] | undefined {
  if (typeof line !== 'string' || line.length > 4096) return undefined;
  const match = HEADER_LINE.exec(line);
  if (!match) return undefined;
  const name = match[1]!.toLowerCase();
  return FRAMING_HEADERS.has(name) ? undefined : [name, match[2]!.trim()];
}
