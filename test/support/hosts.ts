// What tests ask the sandbox hosts directly, as an operator would with a shell on them.
import * as sandbox from '../../sandbox';
import { RECLAIM_CRON_FILE } from '../../providers/serviceAddress';

/** `text` as a regular expression matching itself (an address, a MAC). */
export const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export const sh = async (host: sandbox.HostName, text: string) => (await sandbox.execOn(host, ['sh', '-c', text])).stdout.trim();

export const sql = (host: sandbox.HostName, query: string) => sh(host, `runuser -u postgres -- psql -qtAX -d sounz -c "${query}"`);

/** The lines sounz-reclaim logged on the host: it runs once at each boot of a host that served. */
export const reclaimLines = async (host: sandbox.HostName) =>
  (await sh(host, "grep 'sounz-reclaim:' /var/log/sounz/sounz-general.log || true")).split('\n').filter(Boolean);

/**
 * A boot (sandbox.revive) that returns once the host's sounz-reclaim, where it is set up to run, has
 * decided whether to claim the service IP again: who holds the address is then settled, not changing
 * under the next check. Its decision is the first line it logs from the second of the boot on (the
 * hosts keep this machine's clock, in UTC).
 */
export async function reviveSettled(host: sandbox.HostName, limitMs = 30_000): Promise<void> {
  const since = new Date().toISOString().replace('T', ' ').slice(0, 19);
  await sandbox.revive(host);
  const started = Date.now();
  // A revive whose host is not yet recorded as running leaves it to the caller's sandbox.up(), as before.
  const setUp = await sh(host, `test -e ${RECLAIM_CRON_FILE} && echo set-up || true`).catch((error: Error) => {
    if (/is not running/.test(error.message)) return 'not running';
    throw error;
  });
  if (setUp !== 'set-up') return;
  while (!(await reclaimLines(host)).some((line) => line.slice(0, 19) >= since)) {
    if (Date.now() - started > limitMs) throw new Error(`${host}'s sounz-reclaim did not decide within ${limitMs / 1000} s of its boot`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The host whose website answers for `ip` from the vantage point (its page names it), or null. */
export const servedBy = async (ip: string, timeoutMs = 3000) => (await sandbox.httpFromVantage(ip, 80, timeoutMs))?.split(' ')[0] ?? null;

/** The running hosts whose interfaces carry `ip` (`ip addr` on each). */
export async function holders(ip: string): Promise<sandbox.HostName[]> {
  const running = sandbox.recordedState()?.hosts ?? {};
  const held = await Promise.all(sandbox.hostnames.map(async (h) => {
    if (!running[h]?.alive) return [];
    return (await sandbox.execOn(h, ['ip', '-4', '-o', 'addr', 'show'])).stdout.includes(`inet ${ip}/`) ? [h] : [];
  }));
  return held.flat();
}

// Our services as each kind of host runs them (providers/scripts/units.sh): a systemd unit on a Debian
// host, a pidfile (and the guard's cron file) on a namespace host.
const debian = () => sandbox.HOST_KIND === 'debian';

/** "guard" when the guard is set up to run on the host: its unit enabled, or its cron file there. */
export const guardInstalled = (host: sandbox.HostName) => sh(host, debian()
  ? 'systemctl is-enabled --quiet sounz-guard.service && echo guard || true'
  : 'test -e /etc/cron.d/sounz-guard && echo guard || true');

/** The rsync daemons of ours running on the host (apollo, sounz), one a line. */
export const rsyncDaemonsRunning = (host: sandbox.HostName) => sh(host, debian()
  ? 'for d in apollo sounz; do systemctl is-active --quiet sounz-rsyncd-$d.service && echo $d; done; true'
  : 'for d in apollo sounz; do kill -0 "$(cat /run/sounz/rsyncd-$d.pid 2>/dev/null)" 2>/dev/null && echo $d; done; true');

/** Stops an rsync daemon of ours by hand (systemd would start a killed one again). */
export const stopRsyncDaemon = (host: sandbox.HostName, name: 'apollo' | 'sounz') => sh(host, debian()
  ? `systemctl stop sounz-rsyncd-${name}.service`
  : `kill "$(cat /run/sounz/rsyncd-${name}.pid)"`);

/**
 * Starts it again by hand, as the program did (rsync --daemon will not start while a killed daemon's
 * pidfile is there, and serves its stdin as inetd's connection unless stdin is something else).
 */
export const startRsyncDaemon = (host: sandbox.HostName, name: 'apollo' | 'sounz') => sh(host, debian()
  ? `systemctl start sounz-rsyncd-${name}.service`
  : `rm -f /run/sounz/rsyncd-${name}.pid; rsync --daemon --config=/etc/sounz/rsyncd-${name}.conf --dparam=pidfile=/run/sounz/rsyncd-${name}.pid </dev/null >/dev/null 2>&1`);
