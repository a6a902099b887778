import ipaddr from 'ipaddr.js';

/**
 * Whether an IP address may be connected to when private addresses are not allowed: only
 * globally routable unicast passes. Loopback, RFC 1918, link-local (cloud metadata), CGNAT,
 * unspecified, multicast, reserved and every IPv6 form that embeds an IPv4 address
 * (mapped, NAT64, 6to4, Teredo) are refused.
 */
export function isPublicAddress(address: string): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, ''));
  } catch {
    return false;
  }
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() === 'unicast';
}

/** `host` matches an entry of `allowed` exactly, or a `*.example.com` entry by suffix. */
export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return allowed.some((entry) => {
    const e = entry.toLowerCase().replace(/\.$/, '');
    if (e.startsWith('*.')) return h.endsWith(e.slice(1)) && h.length > e.length - 1;
    return h === e;
  });
}
