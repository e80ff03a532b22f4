// Tests may reach only the sandbox hosts (198.51.100.0/24) and this machine (DEVELOPERS.md's safety
// rules). Any other connection from a test's process fails before a packet leaves, a host name other
// than localhost included (its lookup would ask a resolver): a test that would reach a real or an
// example address (a unit config's host, say) fails loudly instead. Child processes are their own.
import net from 'net';

const ALLOWED = /^(localhost|(::ffff:)?(127\.\d+\.\d+\.\d+|198\.51\.100\.\d+)|::1)$/;

/** The host a `Socket.connect` call would reach, or undefined for a local (Unix) socket. */
function hostOf(args: unknown[]): string | undefined {
  // Node's own net.connect passes its normalized arguments as one array.
  const [first, second] = Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
  if (typeof first === 'object' && first !== null) {
    const options = first as { path?: string; host?: string };
    return options.path !== undefined ? undefined : options.host ?? 'localhost';
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return undefined;
  return typeof second === 'string' ? second : 'localhost';
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  const host = hostOf(args);
  if (host !== undefined && !ALLOWED.test(host)) {
    throw new Error(`test network guard: ${host} is neither a sandbox host (198.51.100.0/24) nor this machine`);
  }
  return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof connect;
