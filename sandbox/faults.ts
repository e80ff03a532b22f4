/**
 * The faults the tests and the bench inflict on a host: kill (every process, every address), revive,
 * reboot, partition (off the bridge) and heal.
 */
import { requireRoot, run, runAsync } from './exec';
import { awaitBoot, checkHost, healthy, killHostIn, startHost } from './hosts';
import { assertHost, BRIDGE, HostName, HOSTS } from './layout';
import { hostState, requireState, withLock, writeState } from './ledger';
import { holderAlive, leaderOf } from './processes';

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
