/**
 * The hosts' processes, read from /proc: namespace inodes, whether a PID lives, a holder or a debian
 * host's systemd (its leader), the PIDs inside a host's namespaces, and ending them by PID (SIGKILL,
 * a power cut for debian hosts): a host that dies does not shut down cleanly.
 */
import * as fs from 'fs';
import { sleep } from './exec';
import type { HostState } from './layout';

export function nsInode(pid: number | 'self', kind: 'mnt' | 'uts' | 'net'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${kind}`); // e.g. "mnt:[4026532281]"
  } catch {
    return undefined;
  }
}
export function netnsInode(netns: string): string | undefined {
  try {
    return `net:[${fs.statSync(`/run/netns/${netns}`).ino}]`;
  } catch {
    return undefined;
  }
}
export function pidAlive(pid?: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
export function holderAlive(h?: HostState): boolean {
  if (h?.powerPid) return leaderOf(h.powerPid) !== undefined;
  if (!h?.holderPid || !pidAlive(h.holderPid)) return false;
  const cur = nsInode(h.holderPid, 'mnt');
  return !!cur && h.mntNs.length > 0 && cur === h.mntNs[h.mntNs.length - 1];
}
/**
 * The host's mount namespace, while its holder lives in it; none otherwise. Never an earlier one: a
 * namespace whose last process ended frees its inode, which a later namespace (the other sandbox's
 * host, anyone's) may get. A process left in an earlier one is still in the host's netns.
 */
export function currentMntNs(h: HostState): string[] {
  const last = h.mntNs[h.mntNs.length - 1];
  return last && h.holderPid && nsInode(h.holderPid, 'mnt') === last ? [last] : [];
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
export function leaderOf(powerPid: number): number | undefined {
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

/** PIDs whose mount namespace is one of `mnt` or whose network namespace is `net` (never our own). */
export function pidsIn(mnt: string[], net?: string): number[] {
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
export async function endProcesses(mnt: string[], net?: string): Promise<number> {
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

/** A debian host's power cut: its power process first (no next boot), then its systemd-nspawn and container by PID. */
export async function powerCut(h: HostState): Promise<void> {
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
