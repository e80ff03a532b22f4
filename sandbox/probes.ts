/**
 * Looking at the sandbox without changing it: connection facts and pinned host keys, a command inside a
 * host, HTTP and ARP from the vantage point, a host's processes, the recorded state.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ExecResult, runAsync } from './exec';
import { assertHost, BRIDGE, BRIDGE_ADDRESS, HostInfo, HostName, hostnames, HOSTS, SandboxInfo, SERVICE_IP, State, STATE_DIR, VANTAGE } from './layout';
import { readState, requireState } from './ledger';
import { currentMntNs, holderAlive, leaderOf, netnsInode, pidsIn } from './processes';

/** Connection facts (sync; requires the sandbox to be up). */
export function info(): SandboxInfo {
  requireState();
  const keyPath = path.join(STATE_DIR, 'keys', 'operator_ed25519');
  const hostInfo = (name: HostName): HostInfo => {
    const pub = fs.readFileSync(path.join(STATE_DIR, 'hosts', name, 'ssh', 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
    return { name, address: HOSTS[name].address, sshPort: 22, user: 'root', hostKey: `${pub[0]} ${pub[1]}`, netns: HOSTS[name].netns, mac: HOSTS[name].mac };
  };
  return {
    hosts: { slayer: hostInfo('slayer'), megadeth: hostInfo('megadeth') },
    serviceIp: SERVICE_IP,
    operatorPrivateKey: fs.readFileSync(keyPath, 'utf8'),
    operatorPublicKey: fs.readFileSync(keyPath + '.pub', 'utf8').trim(),
    operatorPrivateKeyPath: keyPath,
    bridge: BRIDGE,
    bridgeAddress: BRIDGE_ADDRESS,
    vantage: { netns: VANTAGE.netns, address: VANTAGE.address, mac: VANTAGE.mac },
  };
}

/** known_hosts line(s) pinning the hosts' keys, e.g. for `ssh -o UserKnownHostsFile=…`. */
export function knownHosts(): string {
  const i = info();
  return hostnames.map((n) => `${i.hosts[n].address} ${i.hosts[n].hostKey}\n`).join('');
}

/**
 * Run argv inside the host's namespaces (mount, UTS, net, PID) via nsenter, without SSH. For test assertions.
 * PIDs in the host's pidfiles are PIDs of the host's PID namespace: kill them through execOn, never from the root namespace.
 */
export async function execOn(
  host: HostName | string,
  argv: string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  assertHost(host);
  const h = requireState().hosts[host];
  if (!h || !holderAlive(h)) throw new Error(`sandbox: host ${host} is not running`);
  const enter = h.powerPid ? ['-t', String(leaderOf(h.powerPid)), '-a'] : ['-t', String(h.holderPid), '-m', '-u', '-n', '-p'];
  return runAsync('nsenter', [...enter, '--', ...argv], { input: opts.input, timeoutMs: opts.timeoutMs ?? 60_000, env: opts.env });
}

const HTTP_GET = `
const [ip, port, t] = process.argv.slice(1);
const req = require('http').get({ host: ip, port: Number(port), path: '/', timeout: Number(t), agent: false }, (res) => {
  let b = ''; res.setEncoding('utf8'); res.on('data', (d) => (b += d)); res.on('end', () => { process.stdout.write(b); process.exit(0); });
});
req.on('timeout', () => { req.destroy(); process.exit(1); });
req.on('error', () => process.exit(1));
setTimeout(() => process.exit(1), Number(t) + 500);
`;

/** GET http://ip:port/ from the vantage namespace: the body, or null when nothing answers in time. */
export async function httpFromVantage(ip: string, port = 80, timeoutMs = 3000): Promise<string | null> {
  const r = await runAsync('ip', ['netns', 'exec', VANTAGE.netns, process.execPath, '-e', HTTP_GET, ip, String(port), String(timeoutMs)], {
    timeoutMs: timeoutMs + 5000,
  });
  return r.code === 0 ? r.stdout : null;
}

/** MAC addresses (lower case, unique) that answer an ARP request for ip sent from the vantage namespace. */
export async function arpFromVantage(ip: string): Promise<string[]> {
  const r = await runAsync('ip', ['netns', 'exec', VANTAGE.netns, 'arping', '-c', '2', '-w', '3', '-I', 'eth0', ip], { timeoutMs: 10_000 });
  const macs = new Set<string>();
  for (const m of r.stdout.matchAll(/\[([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})\]/g)) macs.add(m[1].toLowerCase());
  return [...macs];
}

/** Processes of the host (in its current mount namespace or its netns). */
export function hostPids(host: HostName | string): number[] {
  assertHost(host);
  const h = readState()?.hosts[host];
  return pidsIn(h ? currentMntNs(h) : [], netnsInode(HOSTS[host].netns));
}

/** The recorded state (for tests: ids to check after down()). */
export function recordedState(): State | undefined {
  return readState();
}
