/**
 * One host's life: starting it (a namespace host: its holder, then host.sh starts its services; a debian
 * host: machine.sh prepares its root and powers it, then systemd boots it), checking its services, and
 * killing it (every process by PID, its addresses flushed).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ENV, run, runAsync, sleep } from './exec';
import { BRIDGE, HOST_KIND, HostName, HOSTS, HostStatus, SCRIPT_ENV, State, STATE_DIR } from './layout';
import { hostState, record, writeState } from './ledger';
import { ensureAddress, linkExists, netnsExists } from './network';
import { currentMntNs, endProcesses, holderAlive, leaderOf, netnsInode, nsInode, pidAlive, powerCut } from './processes';

/** Start the holder of the host's mount/UTS namespace inside its netns, mount its files, start its services. */
export async function startHost(state: State, name: HostName): Promise<void> {
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
export const machineScript = () => path.join(STATE_DIR, 'bin', 'machine.sh');

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
export async function awaitBoot(state: State, name: HostName, notLeader?: number): Promise<void> {
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

export async function checkHost(state: State, name: HostName): Promise<HostStatus> {
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
export function healthy(st: HostStatus): boolean {
  const s = Object.values(st.services);
  return st.alive && s.length > 3 && s.every((v) => v === 'ok');
}

/** End every process of the host (by its mount namespace, and anything else in its netns), flush its addresses. */
export async function killHostIn(state: State, name: HostName): Promise<void> {
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
