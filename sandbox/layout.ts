/**
 * The sandbox's layout: which slot, the hosts and the vantage point with their names, addresses and MACs,
 * the bridge, where the state lives, which kind of host, what packages, the root mountpoints, and the
 * records and reports the other modules pass around. Facts only: nothing here runs a command.
 */
import * as path from 'path';

export const hostnames = ['slayer', 'megadeth'] as const;
export type HostName = (typeof hostnames)[number];

/**
 * Which of two sandboxes (SOUNZ_SANDBOX_SLOT, 0 by default): `npm test` runs its host suites in two
 * bands at once, one per sandbox. Sandbox 1 has its own bridge, namespaces, links, MACs, state and the
 * upper half of 198.51.100.0/24: the bridge's address there is a /25, which this machine routes before
 * sandbox 0's /24; its hosts still see a /24, on a bridge where only they live.
 */
export const SLOT: 0 | 1 = process.env.SOUNZ_SANDBOX_SLOT === '1' ? 1 : 0;
const at = (n: number) => `198.51.100.${n + SLOT * 128}`;
const named = (name: string) => (SLOT ? name.replace(/^(sounz|vsz)-/, `$1${SLOT}-`) : name);
const mac = (n: number) => `02:5a:00:00:0${SLOT}:${String(n).padStart(2, '0')}`;

export const STATE_DIR = SLOT ? `/var/lib/sounz-sandbox-${SLOT}` : '/var/lib/sounz-sandbox';
export const STATE_FILE = path.join(STATE_DIR, 'state.json');
export const OTHER_STATE_FILE = SLOT ? '/var/lib/sounz-sandbox/state.json' : '/var/lib/sounz-sandbox-1/state.json';
export const BRIDGE = `sounzbr${SLOT}`;
export const BRIDGE_ADDRESS = at(1);
export const BRIDGE_PREFIX = SLOT ? 25 : 24;
export const SUBNET = SLOT ? '198.51.100.128/25' : '198.51.100.0/24';
export const SERVICE_IP = at(100);
export const SERVICE_LABEL = 'eth0:1';
export const VANTAGE = { netns: named('sounz-vantage'), address: at(2), veth: named('vsz-vantage'), mac: mac(2) };
/**
 * Which hosts: `debian` (the default: Debian 12 containers booted with systemd, machine.sh, as the real pair
 * runs) or `namespace` (SOUNZ_SANDBOX_HOSTS=namespace: the fast variant, namespaces sharing this machine's
 * files, services started by host.sh).
 */
function hostKind(value = process.env.SOUNZ_SANDBOX_HOSTS ?? 'debian'): 'namespace' | 'debian' {
  if (value === 'debian' || value === 'namespace') return value;
  throw new Error(`SOUNZ_SANDBOX_HOSTS=${value}: expected debian (the default) or namespace`);
}
export const HOST_KIND = hostKind();
export const PACKAGES = ['openssh-server', 'rsync', 'postgresql', 'cron', 'iputils-arping', 'iproute2', 'procps', 'psmisc', 'keepalived',
  ...(HOST_KIND === 'debian' ? ['debootstrap', 'systemd-container'] : [])];

interface HostSpec { address: string; netns: string; veth: string; mac: string; initialStatus: string }
export const HOSTS: Record<HostName, HostSpec> = {
  slayer: { address: at(11), netns: named('sounz-slayer'), veth: named('vsz-slayer'), mac: mac(11), initialStatus: 'production' },
  megadeth: { address: at(12), netns: named('sounz-megadeth'), veth: named('vsz-megadeth'), mac: mac(12), initialStatus: 'standby' },
};
/** What host.sh and machine.sh need to know of this sandbox. */
export const SCRIPT_ENV = {
  SOUNZ_SANDBOX_DIR: STATE_DIR, SOUNZ_SANDBOX_SLAYER: HOSTS.slayer.address, SOUNZ_SANDBOX_MEGADETH: HOSTS.megadeth.address,
  SOUNZ_SANDBOX_NETNS_PREFIX: named('sounz-'),
};
/** Directories made in the root namespace only as (empty) mountpoints for the hosts' bind mounts. /etc is an overlay per host instead. */
export const ROOT_MOUNTPOINTS = ['/data', '/data/sounz', '/usr/share/sounz', '/var/log/sounz', '/var/log/apollo', '/var/lib/apollo', '/var/backups/sounz'];

export interface HostInfo {
  name: HostName;
  address: string;
  sshPort: 22;
  user: 'root';
  /** 'ssh-ed25519 AAAA…' public host key, for pinning */
  hostKey: string;
  netns: string;
  mac: string;
}
export interface SandboxInfo {
  hosts: { slayer: HostInfo; megadeth: HostInfo };
  serviceIp: string;
  /** OpenSSH private key text of the operator key (root@ on both hosts) */
  operatorPrivateKey: string;
  operatorPublicKey: string;
  /** paths of the same keys on disk (mode 600), for the ssh client */
  operatorPrivateKeyPath: string;
  bridge: string;
  bridgeAddress: string;
  vantage: { netns: string; address: string; mac: string };
}
export interface HostState {
  holderPid?: number;
  /** debian hosts: the host's power (machine.sh power, in the root namespace), parent of its systemd-nspawn */
  powerPid?: number;
  /** every mount-namespace inode this host ever had (current one last) */
  mntNs: string[];
  utsNs?: string;
  netNs?: string;
  alive: boolean;
  partitioned: boolean;
}
export interface State {
  version: 1;
  createdAt: string;
  netns: string[];
  links: string[];
  rootMountpoints: string[];
  runNetnsMountedBefore?: boolean;
  hosts: Partial<Record<HostName, HostState>>;
}
export interface HostStatus { alive: boolean; partitioned: boolean; holderPid?: number; services: Record<string, 'ok' | 'down'> }
export interface SandboxStatus { up: boolean; healthy: boolean; bridge: boolean; hosts: Record<HostName, HostStatus>; vantage: boolean }

export function assertHost(host: string): asserts host is HostName {
  if (!(hostnames as readonly string[]).includes(host)) throw new Error(`sandbox: unknown host ${host} (use ${hostnames.join(' or ')})`);
}
