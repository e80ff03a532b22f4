/** IPv4 arithmetic for the service IP: can an interface carry it? */

function toNumber(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** The addresses (`a.b.c.d/len`) of which `ip` lies inside the subnet. */
export function subnetsHolding(ip: string, cidrs: string[]): string[] {
  const wanted = toNumber(ip);
  return cidrs.filter((cidr) => {
    const [address, length] = cidr.split('/');
    const bits = Number(length);
    if (!(bits >= 0 && bits <= 32)) return false;
    const size = 2 ** (32 - bits);
    return Math.floor(wanted / size) === Math.floor(toNumber(address) / size);
  });
}

/**
 * Why an interface with `cidrs` cannot carry `ip` as an alias, or undefined when it can: some address
 * already on it must share a subnet with the service IP, or nobody routes to the service IP there.
 */
export function cannotCarry(ip: string, cidrs: string[], device: string): string | undefined {
  const others = cidrs.filter((cidr) => cidr.split('/')[0] !== ip);
  if (subnetsHolding(ip, others).length > 0) return undefined;
  return `no address on ${device} shares a subnet with the service IP ${ip}` +
    ` (${device} has ${others.length > 0 ? others.join(', ') : 'no IPv4 address'}): nobody would route to it there`;
}
