/**
 * The sounz sandbox: two real hosts (slayer, megadeth) and a vantage point, each a Linux network
 * namespace on the private bridge sounzbr0 (198.51.100.0/24), reachable from here only over SSH.
 * Every host has its own mount + UTS namespace (held by a `sleep infinity` holder process), its own
 * sshd, PostgreSQL 15 cluster, cron, and stand-ins for the website / Apollo / mongrels.
 *
 * Everything created is recorded in /var/lib/sounz-sandbox/state.json and removed from there by down().
 * Root only. See sandbox/cli.ts for the command line.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
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
const OTHER_STATE_FILE = SLOT ? '/var/lib/sounz-sandbox/state.json' : '/var/lib/sounz-sandbox-1/state.json';
export const BRIDGE = `sounzbr${SLOT}`;
export const BRIDGE_ADDRESS = at(1);
const BRIDGE_PREFIX = SLOT ? 25 : 24;
export const SUBNET = SLOT ? '198.51.100.128/25' : '198.51.100.0/24';
export const SERVICE_IP = at(100);
export const SERVICE_LABEL = 'eth0:1';
export const VANTAGE = { netns: named('sounz-vantage'), address: at(2), veth: named('vsz-vantage'), mac: mac(2) };
/**
 * Which hosts: `namespace` (the default for now: namespaces sharing this machine's files, services started by
 * host.sh) or `debian` (SOUNZ_SANDBOX_HOSTS=debian: Debian 12 containers booted with systemd, machine.sh).
 */
export const HOST_KIND: 'namespace' | 'debian' = process.env.SOUNZ_SANDBOX_HOSTS === 'debian' ? 'debian' : 'namespace';
export const PACKAGES = ['openssh-server', 'rsync', 'postgresql', 'cron', 'iputils-arping', 'iproute2', 'procps', 'psmisc', 'keepalived'];

interface HostSpec { address: string; netns: string; veth: string; mac: string; initialStatus: string }
export const HOSTS: Record<HostName, HostSpec> = {
  slayer: { address: at(11), netns: named('sounz-slayer'), veth: named('vsz-slayer'), mac: mac(11), initialStatus: 'production' },
  megadeth: { address: at(12), netns: named('sounz-megadeth'), veth: named('vsz-megadeth'), mac: mac(12), initialStatus: 'standby' },
};
/** What host.sh and machine.sh need to know of this sandbox. */
const SCRIPT_ENV = {
  SOUNZ_SANDBOX_DIR: STATE_DIR, SOUNZ_SANDBOX_SLAYER: HOSTS.slayer.address, SOUNZ_SANDBOX_MEGADETH: HOSTS.megadeth.address,
  SOUNZ_SANDBOX_NETNS_PREFIX: named('sounz-'),
};
/** Directories made in the root namespace only as (empty) mountpoints for the hosts' bind mounts. /etc is an overlay per host instead. */
const ROOT_MOUNTPOINTS = ['/data', '/data/sounz', '/usr/share/sounz', '/var/log/sounz', '/var/log/apollo', '/var/lib/apollo', '/var/backups/sounz'];

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
export interface ExecResult { code: number; stdout: string; stderr: string }
export interface HostStatus { alive: boolean; partitioned: boolean; holderPid?: number; services: Record<string, 'ok' | 'down'> }
export interface SandboxStatus { up: boolean; healthy: boolean; bridge: boolean; hosts: Record<HostName, HostStatus>; vantage: boolean }

// ---------------------------------------------------------------- helpers
const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root' };

function run(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string; env?: NodeJS.ProcessEnv } = {}): ExecResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, env: { ...ENV, ...(opts.env ?? {}) }, cwd: '/', maxBuffer: 64 << 20 });
  const res = { code: r.status ?? (r.error ? 127 : 128), stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
  if (res.code !== 0 && !opts.allowFail) {
    throw new Error(`sandbox: ${cmd} ${args.join(' ')} failed (${res.code}): ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return res;
}

function runAsync(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...ENV, ...(opts.env ?? {}) }, cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => { stderr += String(e); });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('sandbox: must run as root');
}

function readState(): State | undefined {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as State;
  } catch {
    return undefined;
  }
}
function writeState(s: State): void {
  fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o755 });
  const tmp = STATE_FILE + '.tmp';
  fs.writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
  fs.renameSync(tmp, STATE_FILE);
}
function newState(): State {
  return { version: 1, createdAt: new Date().toISOString(), netns: [], links: [], rootMountpoints: [], hosts: {} };
}
function record<T>(list: T[], v: T): void {
  if (!list.includes(v)) list.push(v);
}

function nsInode(pid: number | 'self', kind: 'mnt' | 'uts' | 'net'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${kind}`); // e.g. "mnt:[4026532281]"
  } catch {
    return undefined;
  }
}
function netnsInode(netns: string): string | undefined {
  try {
    return `net:[${fs.statSync(`/run/netns/${netns}`).ino}]`;
  } catch {
    return undefined;
  }
}
function linkExists(name: string, netns?: string): boolean {
  const args = netns ? ['-n', netns, 'link', 'show', name] : ['link', 'show', name];
  return run('ip', args, { allowFail: true }).code === 0;
}
function netnsExists(name: string): boolean {
  return fs.existsSync(`/run/netns/${name}`);
}
function pidAlive(pid?: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
function holderAlive(h?: HostState): boolean {
  if (h?.powerPid) return leaderOf(h.powerPid) !== undefined;
  if (!h?.holderPid || !pidAlive(h.holderPid)) return false;
  const cur = nsInode(h.holderPid, 'mnt');
  return !!cur && h.mntNs.length > 0 && cur === h.mntNs[h.mntNs.length - 1];
}
function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
function descendantsOf(pid: number): number[] {
  const kids = childrenOf(pid);
  return kids.flatMap((k) => [k, ...descendantsOf(k)]);
}
/** A debian host's systemd (PID 1 of its container) under its power process, if it runs. */
function leaderOf(powerPid: number): number | undefined {
  if (!pidAlive(powerPid)) return undefined;
  for (const pid of descendantsOf(powerPid)) {
    let nspid = '';
    try {
      nspid = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^NSpid:\s+(.*)$/m)?.[1] ?? '';
    } catch {
      continue;
    }
    if (/^\d+\s+1$/.test(nspid.trim())) return pid;
  }
  return undefined;
}
function isMountpoint(p: string): boolean {
  return run('mountpoint', ['-q', p], { allowFail: true }).code === 0;
}

/** PIDs whose mount namespace is one of `mnt` or whose network namespace is `net` (never our own). */
function pidsIn(mnt: string[], net?: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid || pid === 1) continue;
    const m = nsInode(pid, 'mnt');
    const n = net ? nsInode(pid, 'net') : undefined;
    if ((m && mnt.includes(m)) || (net && n === net)) out.push(pid);
  }
  return out;
}

/** End by PID every process inside the given namespaces (SIGKILL: a host that dies does not shut down cleanly). */
async function endProcesses(mnt: string[], net?: string): Promise<number> {
  let total = 0;
  for (let round = 0; round < 50; round++) {
    const pids = pidsIn(mnt, net);
    if (pids.length === 0) return total;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        total++;
      } catch {
        /* gone already */
      }
    }
    await sleep(round < 5 ? 20 : 100);
  }
  const left = pidsIn(mnt, net);
  if (left.length) throw new Error(`sandbox: processes would not end: ${left.join(' ')}`);
  return total;
}

function setSysctl(file: string, value: string, netns?: string): void {
  if (netns) run('ip', ['netns', 'exec', netns, 'sh', '-c', `echo ${value} > ${file}`]);
  else fs.writeFileSync(file, value);
}

// ---------------------------------------------------------------- packages
function missingPackages(): string[] {
  return PACKAGES.filter((p) => {
    const r = run('dpkg-query', ['-W', '-f=${Status}', p], { allowFail: true });
    return !(r.code === 0 && r.stdout.includes('install ok installed'));
  });
}

/** apt-get install whatever is missing, without letting Debian's postinst start services in the root namespace. */
export function ensurePackages(log: (s: string) => void = () => undefined): string[] {
  const missing = missingPackages();
  if (missing.length === 0) return [];
  log(`installing ${missing.join(' ')}`);
  const policy = '/usr/sbin/policy-rc.d';
  const ours = !fs.existsSync(policy);
  if (ours) fs.writeFileSync(policy, '#!/bin/sh\n# sounz sandbox: no service starts during apt-get install\nexit 101\n', { mode: 0o755 });
  try {
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update', '-q'], { env });
    run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env });
  } finally {
    if (ours) fs.rmSync(policy, { force: true });
  }
  const still = missingPackages();
  if (still.length) throw new Error(`sandbox: could not install ${still.join(' ')}`);
  return missing;
}

// ---------------------------------------------------------------- files and keys
function installHelpers(): void {
  const bin = path.join(STATE_DIR, 'bin');
  fs.mkdirSync(bin, { recursive: true, mode: 0o755 });
  for (const f of ['host.sh', 'machine.sh', 'binds.sh', 'standin.js']) {
    fs.copyFileSync(path.join(__dirname, f), path.join(bin, f));
    fs.chmodSync(path.join(bin, f), 0o755);
  }
}

function ensureKeys(): void {
  const dir = path.join(STATE_DIR, 'keys');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(STATE_DIR, 0o755);
  fs.chmodSync(dir, 0o700);
  const key = path.join(dir, 'operator_ed25519');
  if (!fs.existsSync(key) || !fs.existsSync(key + '.pub')) {
    fs.rmSync(key, { force: true });
    fs.rmSync(key + '.pub', { force: true });
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sounz-operator', '-f', key]);
  }
  fs.writeFileSync(path.join(dir, 'authorized_keys'), fs.readFileSync(key + '.pub'), { mode: 0o600 });
}

/** Marker left in each root-namespace mountpoint dir the sandbox made (hidden inside hosts by the bind mounts). */
const MOUNTPOINT_MARKER = '.sounz-sandbox-mountpoint';
function ensureRootMountpoints(state: State): void {
  for (const p of ROOT_MOUNTPOINTS) {
    if (!fs.existsSync(p)) {
      record(state.rootMountpoints, p);
      writeState(state);
      fs.mkdirSync(p, { mode: 0o755 });
      fs.writeFileSync(path.join(p, MOUNTPOINT_MARKER), 'made by the sounz sandbox (sandbox/index.ts); removed by its down\n');
    } else if (fs.existsSync(path.join(p, MOUNTPOINT_MARKER))) {
      record(state.rootMountpoints, p); // made by an earlier run whose state.json is lost
    }
  }
  writeState(state);
}
function removeRootMountpoints(state: State): void {
  // The other sandbox's hosts mount onto the same folders: removing one that is a mountpoint in their
  // namespaces would unmount it there.
  if (fs.existsSync(OTHER_STATE_FILE)) return;
  const ours = new Set(state.rootMountpoints);
  for (const p of ROOT_MOUNTPOINTS) if (fs.existsSync(path.join(p, MOUNTPOINT_MARKER))) ours.add(p);
  for (const p of [...ROOT_MOUNTPOINTS].reverse()) {
    if (!ours.has(p)) continue;
    try {
      fs.rmSync(path.join(p, MOUNTPOINT_MARKER), { force: true });
      fs.rmdirSync(p); // only if empty otherwise
    } catch {
      /* not empty or gone: leave it */
    }
  }
}

// ---------------------------------------------------------------- network
function ensureBridge(state: State): void {
  if (!linkExists(BRIDGE)) {
    record(state.links, BRIDGE);
    writeState(state);
    run('ip', ['link', 'add', BRIDGE, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  }
  setSysctl(`/proc/sys/net/ipv6/conf/${BRIDGE}/disable_ipv6`, '1');
  const addrs = run('ip', ['-4', '-o', 'addr', 'show', 'dev', BRIDGE]).stdout;
  if (!addrs.includes(` ${BRIDGE_ADDRESS}/${BRIDGE_PREFIX} `)) run('ip', ['addr', 'add', `${BRIDGE_ADDRESS}/${BRIDGE_PREFIX}`, 'dev', BRIDGE]);
  run('ip', ['link', 'set', BRIDGE, 'up']);
}

/** netns + veth (bridge side `veth`, `eth0` inside with a fixed MAC) + base address. */
function ensureNode(state: State, netns: string, veth: string, mac: string, address: string, attach: boolean): void {
  if (!netnsExists(netns)) {
    record(state.netns, netns);
    writeState(state);
    if (!fs.existsSync('/run/netns') && state.runNetnsMountedBefore === undefined) {
      state.runNetnsMountedBefore = false;
    } else if (state.runNetnsMountedBefore === undefined) {
      state.runNetnsMountedBefore = isMountpoint('/run/netns');
    }
    writeState(state);
    run('ip', ['netns', 'add', netns]);
  }
  // no IPv6 at all inside (no link-local, no router/neighbour solicitations leave the namespace)
  setSysctl('/proc/sys/net/ipv6/conf/default/disable_ipv6', '1', netns);
  setSysctl('/proc/sys/net/ipv6/conf/all/disable_ipv6', '1', netns);
  run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  const inside = linkExists('eth0', netns);
  const outside = linkExists(veth);
  if (!inside || !outside) {
    if (outside) run('ip', ['link', 'del', veth], { allowFail: true });
    if (inside) run('ip', ['-n', netns, 'link', 'del', 'eth0'], { allowFail: true });
    record(state.links, veth);
    writeState(state);
    run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'address', mac, 'netns', netns]);
    setSysctl(`/proc/sys/net/ipv6/conf/${veth}/disable_ipv6`, '1');
  }
  if (attach) run('ip', ['link', 'set', veth, 'master', BRIDGE, 'up']);
  run('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
  ensureAddress(netns, address);
}
function ensureAddress(netns: string, address: string): void {
  const addrs = run('ip', ['-n', netns, '-4', '-o', 'addr', 'show', 'dev', 'eth0']).stdout;
  if (!addrs.includes(` ${address}/24 `)) run('ip', ['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
}

// ---------------------------------------------------------------- hosts
function hostState(state: State, name: HostName): HostState {
  let h = state.hosts[name];
  if (!h) {
    h = { mntNs: [], alive: false, partitioned: false };
    state.hosts[name] = h;
  }
  return h;
}

/** Start the holder of the host's mount/UTS namespace inside its netns, mount its files, start its services. */
async function startHost(state: State, name: HostName): Promise<void> {
  if (HOST_KIND === 'debian') return bootHost(state, name);
  const spec = HOSTS[name];
  const h = hostState(state, name);
  h.netNs = netnsInode(spec.netns);
  ensureAddress(spec.netns, spec.address);
  if (!holderAlive(h)) {
    // holder: pid 1 of the host's PID namespace, a bash that reaps orphans; its mount/UTS namespaces are the host's
    const child = spawn(
      'ip',
      ['netns', 'exec', spec.netns, 'unshare', '--mount', '--uts', '--pid', '--fork', '--mount-proc', '--propagation', 'private',
        'bash', '-c', `exec -a sounz-init-${name} bash -c 'while :; do sleep 86400 & wait $!; done'`],
      { detached: true, stdio: 'ignore', cwd: '/', env: ENV },
    );
    child.unref();
    const upid = child.pid;
    if (!upid) throw new Error(`sandbox: could not start the namespace holder of ${name}`);
    h.holderPid = upid; // provisional (the unshare process), replaced by its child below
    writeState(state);
    const rootUts = nsInode('self', 'uts');
    let pid = 0;
    for (let i = 0; ; i++) {
      let kids: string[] = [];
      try {
        kids = fs.readFileSync(`/proc/${upid}/task/${upid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      } catch {
        throw new Error(`sandbox: namespace holder of ${name} died`);
      }
      if (kids.length === 1 && nsInode(upid, 'uts') !== rootUts) {
        const k = Number(kids[0]);
        let cmdline = '';
        try {
          cmdline = fs.readFileSync(`/proc/${k}/cmdline`, 'utf8');
        } catch {
          /* not yet */
        }
        if (cmdline.startsWith(`sounz-init-${name}`)) {
          pid = k;
          break;
        }
      }
      if (i > 500) throw new Error(`sandbox: namespace holder of ${name} did not start`);
      await sleep(10);
    }
    h.holderPid = pid;
    const mnt = nsInode(pid, 'mnt')!;
    record(h.mntNs, mnt);
    h.utsNs = nsInode(pid, 'uts');
    writeState(state);
  }
  const r = await runAsync('nsenter', ['-t', String(h.holderPid), '-m', '-u', '-n', '-p', '--', 'bash', path.join(STATE_DIR, 'bin', 'host.sh'), 'start', name, spec.address], {
    env: SCRIPT_ENV,
    timeoutMs: 180_000,
  });
  if (r.code !== 0) throw new Error(`sandbox: starting ${name} failed (${r.code}): ${r.stderr.trim()}`);
  h.alive = true;
  writeState(state);
}

let rootfsPath: string | undefined;
/** The cached Debian rootfs (scripts/rootfs.sh builds it on first use, 1-1.5 min). */
function rootfs(log: (s: string) => void): string {
  if (!rootfsPath) {
    log('debian hosts: the rootfs (scripts/rootfs.sh)');
    rootfsPath = run('bash', [path.join(__dirname, '..', 'scripts', 'rootfs.sh')]).stdout.trim().split('\n').pop();
  }
  return rootfsPath!;
}
const machineScript = () => path.join(STATE_DIR, 'bin', 'machine.sh');

/** Power on a debian host: its root (an overlay of the rootfs) with its identity, then systemd-nspawn boots it into its netns. */
async function bootHost(state: State, name: HostName, log: (s: string) => void = () => undefined): Promise<void> {
  const spec = HOSTS[name];
  const h = hostState(state, name);
  h.netNs = netnsInode(spec.netns);
  if (holderAlive(h)) {
    // running but unhealthy: start the units that are down, as an operator would
    const st = await checkHost(state, name);
    const units = unitsOf(name);
    const down = Object.keys(st.services).filter((k) => st.services[k] === 'down' && units[k]).map((k) => units[k]);
    if (down.length) await runAsync('nsenter', ['-t', String(leaderOf(h.powerPid!)), '-a', '--', 'systemctl', 'start', ...down], { timeoutMs: 60_000 });
  } else {
    run('bash', [machineScript(), 'prepare', name, spec.address, rootfs(log)], { env: SCRIPT_ENV });
    const child = spawn('bash', [machineScript(), 'power', name, spec.address], {
      detached: true, stdio: 'ignore', cwd: '/', env: { ...ENV, ...SCRIPT_ENV },
    });
    child.unref();
    h.powerPid = child.pid;
    writeState(state);
  }
  await awaitBoot(state, name);
}

/** Wait for the host's systemd to finish booting (multi-user.target reached: `running`, or `degraded`). */
async function awaitBoot(state: State, name: HostName, notLeader?: number): Promise<void> {
  const h = hostState(state, name);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const leader = h.powerPid ? leaderOf(h.powerPid) : undefined;
    if (leader && leader !== notLeader) {
      const r = await runAsync('nsenter', ['-t', String(leader), '-a', '--', 'systemctl', 'is-system-running'], { timeoutMs: 10_000 });
      if (['running', 'degraded'].includes(r.stdout.trim())) {
        h.holderPid = leader;
        const mnt = nsInode(leader, 'mnt');
        if (mnt) record(h.mntNs, mnt);
        h.utsNs = nsInode(leader, 'uts');
        h.alive = true;
        writeState(state);
        return;
      }
    }
    if (!h.powerPid || !pidAlive(h.powerPid)) throw new Error(`sandbox: ${name} powered off while booting (see ${STATE_DIR}/hosts/${name}/console.log)`);
    if (Date.now() > deadline) throw new Error(`sandbox: ${name} did not boot in 120 s (see ${STATE_DIR}/hosts/${name}/console.log)`);
    await sleep(200);
  }
}

/** A debian host's units, named as the namespace hosts' services: one mongrel unit per port of its sounz.conf. */
function unitsOf(name: HostName): Record<string, string> {
  let ports = '8000 8001 8002';
  try {
    ports = fs.readFileSync(path.join(STATE_DIR, 'hosts', name, 'etc-sounz', 'sounz.conf'), 'utf8').match(/^MONGREL_PORTS="([0-9 ]*)"/m)?.[1] ?? ports;
  } catch {
    /* not made yet: the default ports */
  }
  const units: Record<string, string> = {
    sshd: 'ssh', cron: 'cron', web: 'sounz-web', apollo: 'sounz-apollo', postgresql: 'postgresql@15-main', database: 'sounz-database',
  };
  for (const port of ports.split(/\s+/).filter(Boolean)) units[`mongrel.${port}`] = `sounz-mongrel@${port}`;
  return units;
}

async function checkHost(state: State, name: HostName): Promise<HostStatus> {
  const h = state.hosts[name];
  const st: HostStatus = { alive: false, partitioned: !!h?.partitioned, holderPid: h?.holderPid, services: {} };
  if (!h || !holderAlive(h)) return st;
  st.alive = true;
  if (h.powerPid) {
    const units = unitsOf(name);
    const names = Object.keys(units);
    const r = await runAsync('nsenter', ['-t', String(leaderOf(h.powerPid)), '-a', '--', 'systemctl', 'is-active', ...names.map((n) => units[n])], { timeoutMs: 30_000 });
    const states = r.stdout.trim().split('\n');
    names.forEach((n, i) => (st.services[n] = states[i] === 'active' ? 'ok' : 'down'));
  } else {
    const r = await runAsync('nsenter', ['-t', String(h.holderPid), '-m', '-u', '-n', '-p', '--', 'bash', path.join(STATE_DIR, 'bin', 'host.sh'), 'check', name], {
      env: SCRIPT_ENV,
      timeoutMs: 30_000,
    });
    for (const line of r.stdout.split('\n')) {
      const [svc, v] = line.trim().split(/\s+/);
      if (svc && (v === 'ok' || v === 'down')) st.services[svc] = v;
    }
  }
  const ip = run('ip', ['-n', HOSTS[name].netns, '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { allowFail: true }).stdout;
  st.services.address = ip.includes(` ${HOSTS[name].address}/24 `) ? 'ok' : 'down';
  return st;
}
function healthy(st: HostStatus): boolean {
  const s = Object.values(st.services);
  return st.alive && s.length > 3 && s.every((v) => v === 'ok');
}

/**
 * The host's mount namespace, while its holder lives in it; none otherwise. Never an earlier one: a
 * namespace whose last process ended frees its inode, which a later namespace (the other sandbox's
 * host, anyone's) may get. A process left in an earlier one is still in the host's netns.
 */
function currentMntNs(h: HostState): string[] {
  const last = h.mntNs[h.mntNs.length - 1];
  return last && h.holderPid && nsInode(h.holderPid, 'mnt') === last ? [last] : [];
}

/** End every process of the host (by its mount namespace, and anything else in its netns), flush its addresses. */
async function killHostIn(state: State, name: HostName): Promise<void> {
  const spec = HOSTS[name];
  const h = hostState(state, name);
  const net = netnsInode(spec.netns) ?? h.netNs;
  await powerCut(h);
  await endProcesses(currentMntNs(h), net);
  if (netnsExists(spec.netns)) run('ip', ['-n', spec.netns, 'addr', 'flush', 'dev', 'eth0'], { allowFail: true });
  // the operator machine forgets the dead host's MAC at once, so that a connect gets EHOSTUNREACH (~3 s) rather than a long time-out
  if (linkExists(BRIDGE)) run('ip', ['neigh', 'flush', 'to', spec.address, 'dev', BRIDGE], { allowFail: true });
  h.holderPid = undefined;
  h.alive = false;
  writeState(state);
}

/** A debian host's power cut: its power process first (no next boot), then its systemd-nspawn and container by PID. */
async function powerCut(h: HostState): Promise<void> {
  if (!h.powerPid) return;
  const tree = pidAlive(h.powerPid) ? [h.powerPid, ...descendantsOf(h.powerPid)] : [];
  for (const pid of tree) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  for (let i = 0; tree.some(pidAlive) && i < 100; i++) await sleep(20);
  h.powerPid = undefined;
}

function loadOrNew(): State {
  return readState() ?? newState();
}

// ---------------------------------------------------------------- lock (one sandbox operation at a time, across processes)
const LOCK_DIR = `/run/lock/sounz-sandbox${SLOT ? `-${SLOT}` : ''}.lock`;
let inProcess: Promise<unknown> = Promise.resolve();
/** Serialise sandbox operations: in this process by a promise chain, across processes by an atomic lock dir. */
function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const next = inProcess.then(() => withDirLock(fn));
  inProcess = next.catch(() => undefined);
  return next;
}
async function withDirLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10 * 60 * 1000;
  for (;;) {
    try {
      fs.mkdirSync(path.dirname(LOCK_DIR), { recursive: true });
      fs.mkdirSync(LOCK_DIR);
      fs.writeFileSync(path.join(LOCK_DIR, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = 0;
      try {
        owner = Number(fs.readFileSync(path.join(LOCK_DIR, 'pid'), 'utf8'));
      } catch {
        /* being written */
      }
      if (owner && owner !== process.pid && !pidAlive(owner)) fs.rmSync(LOCK_DIR, { recursive: true, force: true }); // stale
      if (Date.now() > deadline) throw new Error(`sandbox: ${LOCK_DIR} held by pid ${owner}`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(LOCK_DIR, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- public API
/** Bring the sandbox up (idempotent; when up already, only checks health and restarts what is missing). */
/**
 * Bring the sandbox up, reusing what is there. `fresh`: a suite's first call, which must not inherit
 * another suite's hosts (their records would make its first deployment a different situation):
 * whatever is left is taken down first.
 */
export async function up(log: (s: string) => void = () => undefined, options: { fresh?: boolean } = {}): Promise<SandboxInfo> {
  return withLock(async () => {
    requireRoot();
    ensurePackages(log);
    if (options.fresh && readState()) {
      log('fresh: taking down the sandbox left by an earlier run');
      await downUnlocked();
    }
    const state = loadOrNew();
    if (!readState() && (netnsExists(HOSTS.slayer.netns) || netnsExists(HOSTS.megadeth.netns) || netnsExists(VANTAGE.netns) || linkExists(BRIDGE))) {
      // leftovers with our fixed names but no state (state dir deleted by hand): remove them first
      log('leftovers without state.json: cleaning up');
      await downUnlocked();
    }
    writeState(state);
    installHelpers();
    ensureKeys();
    ensureRootMountpoints(state);
    ensureBridge(state);
    ensureNode(state, VANTAGE.netns, VANTAGE.veth, VANTAGE.mac, VANTAGE.address, true);
    for (const name of hostnames) {
      const spec = HOSTS[name];
      const h = hostState(state, name);
      ensureNode(state, spec.netns, spec.veth, spec.mac, spec.address, !h.partitioned);
      run('bash', [path.join(STATE_DIR, 'bin', 'host.sh'), 'files', name, spec.address, spec.initialStatus], { env: SCRIPT_ENV });
    }
    await Promise.all(
      hostnames.map(async (name) => {
        const h = hostState(state, name);
        if (holderAlive(h)) {
          const st = await checkHost(state, name);
          if (healthy(st)) return;
          log(`${name}: unhealthy (${Object.entries(st.services).filter(([, v]) => v !== 'ok').map(([k]) => k).join(',')}), restarting its services`);
        } else if (h.mntNs.length) {
          await killHostIn(state, name); // leftovers of a crashed run
        }
        await startHost(state, name);
      }),
    );
    for (const name of hostnames) {
      const st = await checkHost(state, name);
      if (!healthy(st)) throw new Error(`sandbox: ${name} is not healthy after up: ${JSON.stringify(st.services)}`);
    }
    return info();
  });
}

/** Remove every namespace, link, mountpoint, process and the state dir the sandbox created. Tolerates a half-made sandbox. */
export async function down(): Promise<void> {
  return withLock(downUnlocked);
}
async function downUnlocked(): Promise<void> {
  requireRoot();
  const state = readState() ?? newState();
  for (const name of hostnames) {
    const h = hostState(state, name);
    const net = netnsInode(HOSTS[name].netns) ?? h.netNs;
    await powerCut(h);
    await endProcesses(currentMntNs(h), net);
    h.holderPid = undefined;
    h.alive = false;
    // a debian host's root (an overlay of the cached rootfs) comes off before its files go
    if (fs.existsSync(path.join(STATE_DIR, 'bin', 'machine.sh'))) run('bash', [machineScript(), 'release', name], { env: SCRIPT_ENV });
  }
  const vnet = netnsInode(VANTAGE.netns);
  if (vnet) await endProcesses([], vnet);
  const netnsList = new Set([...state.netns, VANTAGE.netns, ...hostnames.map((n) => HOSTS[n].netns)]);
  for (const ns of netnsList) if (netnsExists(ns)) run('ip', ['netns', 'del', ns]);
  const links = new Set([...state.links, VANTAGE.veth, ...hostnames.map((n) => HOSTS[n].veth)]);
  links.delete(BRIDGE);
  // (a veth goes away with its netns, asynchronously: tolerate one that vanishes under us, but check the end result)
  for (const l of [...links, BRIDGE]) if (linkExists(l)) run('ip', ['link', 'del', l], { allowFail: true });
  for (let i = 0; [...links, BRIDGE].some((l) => linkExists(l)); i++) {
    if (i > 50) throw new Error(`sandbox: links would not go away: ${[...links, BRIDGE].filter((l) => linkExists(l)).join(' ')}`);
    await sleep(100);
  }
  // iproute2 makes /run/netns a (shared) mount of itself the first time; undo that unless it was there before us
  // (unknown when state.json was lost: an empty /run/netns is then removed too; iproute2 remakes it when needed)
  if (state.runNetnsMountedBefore !== true && fs.existsSync('/run/netns') && fs.readdirSync('/run/netns').length === 0) {
    if (isMountpoint('/run/netns')) run('umount', ['/run/netns'], { allowFail: true });
    if (isMountpoint('/run/netns')) run('umount', ['/run/netns'], { allowFail: true });
    try {
      fs.rmdirSync('/run/netns');
    } catch {
      /* keep */
    }
  }
  removeRootMountpoints(state);
  fs.rmSync(STATE_DIR, { recursive: true, force: true });
}

/** Health of everything (never changes anything). */
export async function status(): Promise<SandboxStatus> {
  const state = readState();
  const hosts = {} as Record<HostName, HostStatus>;
  for (const name of hostnames) {
    hosts[name] = state ? await checkHost(state, name) : { alive: false, partitioned: false, services: {} };
  }
  const bridge = linkExists(BRIDGE);
  const vantage = netnsExists(VANTAGE.netns);
  const isUp = !!state && bridge;
  return { up: isUp, healthy: isUp && vantage && hostnames.every((n) => healthy(hosts[n])), bridge, hosts, vantage };
}

function assertHost(host: string): asserts host is HostName {
  if (!(hostnames as readonly string[]).includes(host)) throw new Error(`sandbox: unknown host ${host} (use ${hostnames.join(' or ')})`);
}
function requireState(): State {
  const s = readState();
  if (!s) throw new Error('sandbox: not up (no state.json)');
  return s;
}

/** Make the host dead: all its processes end (by PID), every address of its eth0 (base and service IP) goes. */
export async function kill(host: HostName | string): Promise<void> {
  return withLock(async () => {
    requireRoot();
    assertHost(host);
    const state = requireState();
    await killHostIn(state, host);
  });
}

/** Bring a killed host back: new mount/UTS namespace holder, same files, base address, services (not the service IP). */
export async function revive(host: HostName | string): Promise<void> {
  return withLock(async () => {
    requireRoot();
    assertHost(host);
    const state = requireState();
    const h = hostState(state, host);
    if (holderAlive(h)) {
      const st = await checkHost(state, host);
      if (healthy(st)) return;
    }
    await startHost(state, host);
  });
}

/**
 * Reboot the host cleanly: on debian hosts `systemctl reboot` inside (its power process boots it again), on
 * namespace hosts (no init system to reboot) a power cut and a boot. Returns once the host has booted.
 */
export async function reboot(host: HostName | string): Promise<void> {
  return withLock(async () => {
    requireRoot();
    assertHost(host);
    const state = requireState();
    const h = hostState(state, host);
    if (!h.powerPid) {
      await killHostIn(state, host);
      return startHost(state, host);
    }
    const before = leaderOf(h.powerPid);
    if (!before) throw new Error(`sandbox: host ${host} is not running`);
    await runAsync('nsenter', ['-t', String(before), '-a', '--', 'systemctl', 'reboot'], { timeoutMs: 30_000 });
    h.alive = false;
    writeState(state);
    await awaitBoot(state, host, before);
  });
}

/** Cut the host off the bridge (its bridge-side veth leaves the bridge and goes down); the host keeps running and its addresses. */
export async function partition(host: HostName | string): Promise<void> {
  return withLock(async () => {
    requireRoot();
    assertHost(host);
    const state = requireState();
    const h = hostState(state, host);
    h.partitioned = true;
    writeState(state);
    run('ip', ['link', 'set', HOSTS[host].veth, 'nomaster']);
    run('ip', ['link', 'set', HOSTS[host].veth, 'down']);
  });
}

/** Undo partition(). */
export async function heal(host: HostName | string): Promise<void> {
  return withLock(async () => {
    requireRoot();
    assertHost(host);
    const state = requireState();
    const h = hostState(state, host);
    run('ip', ['link', 'set', HOSTS[host].veth, 'master', BRIDGE, 'up']);
    h.partitioned = false;
    writeState(state);
  });
}

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
