// Which addresses an HTTP task may connect to. By default nothing private: loopback, RFC 1918 and
// unique-local (fc00::/7), link-local (169.254/16 with the cloud metadata address, fe80::/10),
// unspecified (0.0.0.0/8, ::), multicast, CGNAT shared space (100.64/10), reserved ranges, and the
// documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20). IPv6
// forms that carry an IPv4 address (::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by
// that IPv4 address. So are the addresses of the member's own network interfaces, public or not (a
// task must not reach the member's port through its public address). HTTP_TASK_ALLOW opens host names (exact, case-insensitive), addresses and CIDRs.
// Addresses are parsed by hand into bigints: small, and no surprises about what a library accepts.
import net from 'node:net';
import os from 'node:os';

export interface Ip {
  family: 4 | 6;
  value: bigint;
}

/** An IPv4 or IPv6 address (brackets and a zone id are ignored), or null. */
export function parseIp(text: string): Ip | null {
  const s = text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  if (net.isIPv4(s)) return { family: 4, value: v4(s) };
  if (!net.isIPv6(s)) return null;
  let head = s;
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const x = v4(dotted[2]!);
    head = `${dotted[1]}${(x >> 16n).toString(16)}:${(x & 0xffffn).toString(16)}`;
  }
  // `a:b::c` → the words left of `::`, zeros, the words right of it.
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const groups = (p: string | undefined) => (p ? p.split(':').map((g) => BigInt(`0x${g}`)) : []);
  const l = groups(left);
  const r = groups(right);
  const words = right === undefined ? l : [...l, ...Array<bigint>(8 - l.length - r.length).fill(0n), ...r];
  return { family: 6, value: words.reduce((acc, w) => (acc << 16n) | w, 0n) };
}

function v4(s: string): bigint {
  return s.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

interface Net {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

function cidr(text: string): Net {
  const [addr, bits] = text.split('/');
  const ip = parseIp(addr!)!;
  const width = ip.family === 4 ? 32 : 128;
  const n = bits === undefined ? width : Number(bits);
  return { family: ip.family, base: ip.value & mask(width, n), bits: n };
}

function mask(width: number, bits: number): bigint {
  return ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
}

function inNet(ip: Ip, n: Net): boolean {
  if (ip.family !== n.family) return false;
  const width = ip.family === 4 ? 32 : 128;
  return (ip.value & mask(width, n.bits)) === n.base;
}

/** The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), or the address itself. */
export function unwrap(ip: Ip): Ip {
  if (ip.family !== 6) return ip;
  if (inNet(ip, MAPPED) || inNet(ip, NAT64)) return { family: 4, value: ip.value & 0xffffffffn };
  if (inNet(ip, SIX_TO_FOUR)) return { family: 4, value: (ip.value >> 80n) & 0xffffffffn };
  return ip;
}

const MAPPED = cidr('::ffff:0:0/96');
const NAT64 = cidr('64:ff9b::/96');
const SIX_TO_FOUR = cidr('2002::/16');

/** Ranges refused by default, most specific first, with the kind the error message names. */
const REFUSED: [Net, string][] = (
  [
    ['0.0.0.0/8', 'unspecified'],
    ['10.0.0.0/8', 'private'],
    ['100.64.0.0/10', 'shared (CGNAT)'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local'],
    ['172.16.0.0/12', 'private'],
    ['192.0.0.0/24', 'reserved'],
    ['192.0.2.0/24', 'documentation'],
    ['192.168.0.0/16', 'private'],
    ['198.18.0.0/15', 'reserved'],
    ['198.51.100.0/24', 'documentation'],
    ['203.0.113.0/24', 'documentation'],
    ['224.0.0.0/4', 'multicast'],
    ['240.0.0.0/4', 'reserved'],
    ['::/128', 'unspecified'],
    ['::1/128', 'loopback'],
    ['::/8', 'reserved'],
    ['2001:db8::/32', 'documentation'],
    ['3fff::/20', 'documentation'],
    ['fc00::/7', 'private'],
    ['fe80::/10', 'link-local'],
    ['fec0::/10', 'private'],
    ['ff00::/8', 'multicast'],
  ] as const
).map(([c, kind]) => [cidr(c), kind]);

/** Why an address is not public (`loopback`, `private`…), or null for a public address. */
export function privateKind(address: string | Ip): string | null {
  const parsed = typeof address === 'string' ? parseIp(address) : address;
  if (!parsed) return 'not an IP address';
  const ip = unwrap(parsed);
  for (const [n, kind] of REFUSED) if (inNet(ip, n)) return kind;
  return null;
}

/** Host names lower-cased without a trailing dot, as allow-list entries and URLs are compared. */
export const normalHost = (h: string) => h.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');

const key = (ip: Ip) => ip.value * 2n + (ip.family === 6 ? 1n : 0n);

/** The addresses of this host's network interfaces. */
export function ownAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

export class AddressPolicy {
  private hosts = new Set<string>();
  private nets: Net[] = [];
  private own: Set<bigint>;

  /** `allow`: HTTP_TASK_ALLOW's entries (validated by the configuration); `own`: this host's addresses. */
  constructor(allow: readonly string[] = [], own: readonly string[] = ownAddresses()) {
    this.own = new Set(own.map((a) => parseIp(a)).filter((ip): ip is Ip => ip !== null).map((ip) => key(unwrap(ip))));
    for (const entry of allow) {
      if (parseIp(entry.split('/')[0]!)) {
        const n = cidr(entry);
        // An allowed IPv4 range covers its IPv6-mapped forms too: addresses are unwrapped before the check.
        this.nets.push(n);
      } else {
        this.hosts.add(normalHost(entry));
      }
    }
  }

  /** The operator opened this host name: whatever it resolves to may be reached. */
  allowsHost(host: string): boolean {
    return this.hosts.has(normalHost(host));
  }

  /** Null when the address may be reached; otherwise the kind of private address it is. */
  refusal(address: string): string | null {
    const parsed = parseIp(address);
    if (!parsed) return 'not an IP address';
    const ip = unwrap(parsed);
    const kind = privateKind(parsed) ?? (this.own.has(key(ip)) ? "this member's own" : null);
    if (kind === null) return null;
    if (this.nets.some((n) => inNet(ip, n) || inNet(parsed, n))) return null;
    return kind;
  }
}
