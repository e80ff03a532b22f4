/**
 * Provisioning the whole sandbox: the packages, the helper scripts and keys in the state dir, the root
 * mountpoints, then up (network, hosts, health), down (everything the ledger recorded, and nothing else)
 * and status.
 */
import * as fs from 'fs';
import * as path from 'path';
import { requireRoot, run, sleep } from './exec';
import { checkHost, healthy, killHostIn, machineScript, startHost } from './hosts';
import {
  BRIDGE, HostName, hostnames, HOSTS, HostStatus, OTHER_STATE_FILE, PACKAGES, ROOT_MOUNTPOINTS, SandboxInfo, SandboxStatus, SCRIPT_ENV,
  State, STATE_DIR, VANTAGE,
} from './layout';
import { hostState, loadOrNew, newState, readState, record, withLock, writeState } from './ledger';
import { ensureBridge, ensureNode, isMountpoint, linkExists, netnsExists } from './network';
import { info } from './probes';
import { currentMntNs, endProcesses, holderAlive, netnsInode, powerCut } from './processes';

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

function installHelpers(): void {
  const bin = path.join(STATE_DIR, 'bin');
  fs.mkdirSync(bin, { recursive: true, mode: 0o755 });
  for (const f of ['host.sh', 'machine.sh', 'common.sh', 'standin.js']) {
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
      fs.writeFileSync(path.join(p, MOUNTPOINT_MARKER), 'made by the sounz sandbox (sandbox/provision.ts); removed by its down\n');
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
    // A booted Debian host reaches multi-user.target while the units its mongrels' unit started (without
    // blocking) may still be coming up: 10 s of grace, then its down services started once more, as an
    // operator would, and 10 s again, before a service counts as down.
    const settled = async (name: HostName) => {
      const deadline = Date.now() + 10_000;
      let st = await checkHost(state, name);
      while (!healthy(st) && Date.now() < deadline) {
        await sleep(250);
        st = await checkHost(state, name);
      }
      return st;
    };
    for (const name of hostnames) {
      if (healthy(await settled(name))) continue;
      await startHost(state, name);
      const st = await settled(name);
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
