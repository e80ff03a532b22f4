/**
 * The faults the tests and the bench inflict on a host: kill (every process, every address), revive,
 * reboot, partition (off the bridge) and heal, and one service stopped.
 */
import { requireRoot, run, runAsync } from './exec';
import { awaitBoot, checkHost, healthy, killHostIn, startHost } from './hosts';
import { assertHost, BRIDGE, HOST_KIND, HostName, HOSTS } from './layout';
import { hostState, requireState, withLock, writeState } from './ledger';
import { holderAlive, leaderOf } from './processes';
import { execOn } from './probes';

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

/**
 * Stop one of the host's services the way the host runs it: systemd's unit on a Debian host; on a
 * namespace host sshd and a mongrel by their pidfiles, PostgreSQL by pg_ctl (its cluster keeps its
 * configuration in its data directory). `up()` starts it again as the sandbox started it.
 */
export async function stopService(host: HostName | string, service: 'sshd' | 'postgresql' | `mongrel ${number}`): Promise<void> {
  const port = service.startsWith('mongrel ') ? Number(service.slice('mongrel '.length)) : undefined;
  const text = HOST_KIND === 'debian'
    ? { sshd: 'systemctl stop ssh.service ssh.socket', postgresql: 'systemctl stop postgresql@15-main' }[service as string]
      ?? `systemctl stop sounz-mongrel@${port}.service`
    : { sshd: 'kill "$(cat /run/sshd-sounz.pid)"',
      postgresql: 'runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/15/main stop -m fast' }[service as string]
      ?? `kill "$(cat /run/sounz/mongrel.${port}.pid)"`;
  const r = await execOn(host, ['sh', '-c', text]);
  if (r.code !== 0) throw new Error(`sandbox: could not stop ${service} on ${host}: ${r.stderr.trim()}`);
}
