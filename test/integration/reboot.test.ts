// Issue 26 item 2 through the real engine on the sandbox: a reboot keeps the pair right. `kill` is a
// power cut, `revive` a boot (cron starts and runs its @reboot lines). The serving host takes the service
// IP back by itself (sounz-reclaim, after duplicate-address detection); the standby never claims; the
// older server of an EMERGENCY, whose status file still says production, finds the newer server holding
// the address and stays without it. Each host reboots in each situation (NORMAL, after an EMERGENCY, during
// RECOVERY, in continuous mode), by power cuts and by clean reboots (`systemctl reboot` on a Debian host).
// The vantage point's ARP poller never sees two MACs.
import * as sandbox from '../../sandbox';
import { Engine } from '../../ops/engine';
import { sandboxStack } from '../../ops/sandboxStack';
import { aloneOn, NORMAL, RECOVERY } from '../../model/pairs';
import { RECLAIM_COMMAND, RECLAIM_CRON_FILE, SERVICE_ADDRESS_RECORD } from '../../providers/serviceAddress';
import { GUARD_COMMAND, GUARD_CRON_FILE } from '../../providers/serviceGuard';
import { escaped, holders as holdersOf, reclaimLines, servedBy as servedFrom, sh } from '../support/hosts';
import { TimedSample, VantagePoller } from '../../sandbox/vantagePoller';

jest.setTimeout(600_000);

let info: sandbox.SandboxInfo;
let engine: Engine;
const holders = async () => (await holdersOf(info.serviceIp)).sort();
const servedBy = () => servedFrom(info.serviceIp, 1000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const reclaimLog = async (host: sandbox.HostName) => (await reclaimLines(host)).join('\n');
const served = async (host: sandbox.HostName) => Number(await sh(host, 'cat /etc/sounz/generation/served'));
const mac = (host: sandbox.HostName) => info.hosts[host].mac.toLowerCase();
/** The MACs of each sample, lower case (arping prints them in upper case). */
const macsOf = (samples: TimedSample[]) => samples.map((sample) => sample.macs.map((m) => m.toLowerCase()));

/** Seconds until `check` holds, or throws after `limit` seconds. */
async function until(what: string, check: () => Promise<boolean>, limit = 30): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > limit * 1000) throw new Error(`${what}: not within ${limit} s`);
    await sleep(250);
  }
  return (Date.now() - start) / 1000;
}

/** A boot; returns the lines the host's sounz-reclaim logged at it (`before`: how many it had logged before). */
async function boot(host: sandbox.HostName, before: number): Promise<string> {
  await sandbox.revive(host);
  let lines: string[] = [];
  await until(`${host}'s sounz-reclaim decides`, async () => (lines = (await reclaimLines(host)).slice(before)).length > 0);
  return lines.join('\n');
}

/** Watches `ms` longer, and on until the poller has five samples (a boot can be quicker than that), then ends it. */
async function watched(poller: VantagePoller, ms: number): Promise<TimedSample[]> {
  await sleep(ms);
  await until('the vantage point has five samples', async () => poller.taken >= 5);
  return poller.stopTimed();
}

function neverTwoHolders(samples: TimedSample[]): void {
  expect(samples.length).toBeGreaterThan(3);
  expect(macsOf(samples).filter((macs) => macs.length > 1)).toEqual([]);
}

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  engine = await sandboxStack(info, 'reboot-test');
  await engine.up('NORMAL: first deployment');
});
afterAll(async () => {
  await engine.dispose({ destroy: false });
  await sandbox.down();
});

test('NORMAL: slayer, which serves, reboots and answers on the service IP again within 30 s; one MAC throughout', async () => {
  expect(await holders()).toEqual(['slayer']);
  // The claim left what a boot needs on the server, and the standby has none of it.
  expect(await sh('slayer', `cat ${SERVICE_ADDRESS_RECORD}`)).toBe(`${info.serviceIp} 24 eth0 eth0:1`);
  expect(await sh('slayer', `grep -c '^@reboot root ${RECLAIM_COMMAND} ' ${RECLAIM_CRON_FILE}`)).toBe('1');
  expect(await sh('megadeth', `ls ${SERVICE_ADDRESS_RECORD} ${RECLAIM_CRON_FILE} ${RECLAIM_COMMAND} 2>/dev/null; true`)).toBe('');
  const poller = new VantagePoller(info.serviceIp);
  const cut = Date.now();
  await sandbox.kill('slayer');
  expect(await holders()).toEqual([]);
  await sandbox.revive('slayer');
  await until('slayer answers on the service IP from the vantage point', async () => (await servedBy()) === 'slayer');
  const dark = (Date.now() - cut) / 1000;
  console.log(`slayer rebooted: the site answered again ${dark.toFixed(1)} s after the power cut`);
  expect(dark).toBeLessThan(30);
  const samples = await watched(poller, 3000);
  neverTwoHolders(samples);
  expect(macsOf(samples).slice(-1)).toEqual([[mac('slayer')]]);
  expect(await holders()).toEqual(['slayer']);
  expect(await sh('slayer', 'ip -4 -o addr show dev eth0')).toMatch(new RegExp(`inet ${escaped(info.serviceIp)}/24 .* eth0:1`));
  expect(await reclaimLog('slayer')).toMatch(new RegExp(`sounz-reclaim: booted with sounz\\.status production \\(served since generation \\d+\\) and nobody answers for ${escaped(info.serviceIp)}: ` +
    `claimed ${escaped(info.serviceIp)} on eth0 \\(eth0:1\\) again`));
  // The guard, started by its unit (Debian) or its own @reboot line, guards the address again.
  await until('slayer\'s guard runs', async () => (await sh('slayer', `${GUARD_COMMAND} status`)) === 'running', 10);
  if (sandbox.HOST_KIND === 'debian') {
    // systemd started the guard and the rsync daemons at boot (no cron file, no pidfile).
    await until('slayer\'s units run', async () => (await sh('slayer', 'systemctl is-active sounz-guard sounz-rsyncd-apollo sounz-rsyncd-sounz')) ===
      'active\nactive\nactive', 10);
    expect(await sh('slayer', 'ls /etc/cron.d/sounz-guard /run/sounz/guard.pid /run/sounz/rsyncd-*.pid 2>/dev/null; true')).toBe('');
  } else {
    expect(await sh('slayer', `grep -c '^@reboot root ${GUARD_COMMAND} start ' ${GUARD_CRON_FILE}`)).toBe('1');
  }
});

test('NORMAL: megadeth, the standby, reboots and never claims', async () => {
  const poller = new VantagePoller(info.serviceIp);
  await sandbox.kill('megadeth');
  await sandbox.revive('megadeth');
  // Its cron has started (and run any @reboot line); sounz-reclaim would have claimed within ~3 s of it.
  await until('megadeth\'s cron runs', async () => (await sh('megadeth', 'test -s /run/crond.pid && echo yes || true')) === 'yes');
  neverTwoHolders(await watched(poller, 8000));
  expect(await holders()).toEqual(['slayer']);
  expect(await servedBy()).toBe('slayer');
  expect(await sh('megadeth', 'cat /etc/sounz/sounz.status')).toBe('standby');
  // The release took the boot-time claim off the standby: nothing at boot can add the address.
  expect(await sh('megadeth', `ls ${SERVICE_ADDRESS_RECORD} ${RECLAIM_CRON_FILE} ${RECLAIM_COMMAND} 2>/dev/null; true`)).toBe('');
  expect(await reclaimLog('megadeth')).not.toContain('claimed');
  // Nor does anything start the guard or the rsync daemons there.
  expect(await sh('megadeth', `${GUARD_COMMAND} status 2>/dev/null || echo stopped`)).toBe('stopped');
  if (sandbox.HOST_KIND === 'debian') {
    expect(await sh('megadeth', 'ls /etc/systemd/system/sounz-guard.service /etc/systemd/system/sounz-rsyncd-* 2>/dev/null; true')).toBe('');
  }
});

test('after an EMERGENCY, slayer (status still production, but older) reboots and does not claim: megadeth answers alone', async () => {
  const before = (await reclaimLines('slayer')).length;
  await sandbox.kill('slayer');
  await engine.setStatuses(aloneOn('secondary'));
  await engine.up('EMERGENCY: slayer lost power');
  expect(await holders()).toEqual(['megadeth']);
  const poller = new VantagePoller(info.serviceIp);
  const decided = await boot('slayer', before);
  const samples = await watched(poller, 3000);
  neverTwoHolders(samples);
  expect(macsOf(samples).flat().every((m) => m === mac('megadeth'))).toBe(true);
  // slayer's records: its status file says it serves, its generation is older than megadeth's.
  expect(await sh('slayer', 'cat /etc/sounz/sounz.status')).toBe('production');
  expect(await served('slayer')).toBeLessThan(await served('megadeth'));
  expect(decided).toMatch(new RegExp(`booted with sounz\\.status production \\(served since generation \\d+\\), but ${mac('megadeth')} answers for ${escaped(info.serviceIp)} on eth0: a newer server holds it; not claiming`, 'i'));
  expect(await holders()).toEqual(['megadeth']);
  expect(await servedBy()).toBe('megadeth');
  expect(await sandbox.arpFromVantage(info.serviceIp)).toEqual([mac('megadeth')]);
});

/** The serving host reboots (`clean`: `systemctl reboot` inside, else a power cut and a boot) and answers again within 30 s, alone. */
async function serverReboots(host: sandbox.HostName, clean: boolean): Promise<void> {
  const before = (await reclaimLines(host)).length;
  const poller = new VantagePoller(info.serviceIp);
  const cut = Date.now();
  if (clean) await sandbox.reboot(host);
  else {
    await sandbox.kill(host);
    await sandbox.revive(host);
  }
  await until(`${host} answers on the service IP from the vantage point`, async () => (await servedBy()) === host);
  const dark = (Date.now() - cut) / 1000;
  console.log(`${host} ${clean ? 'rebooted' : 'power-cycled'}: the site answered again ${dark.toFixed(1)} s after it went down`);
  expect(dark).toBeLessThan(30);
  neverTwoHolders(await watched(poller, 3000));
  expect(await holders()).toEqual([host]);
  expect((await reclaimLines(host)).slice(before).join('\n')).toMatch(new RegExp(`claimed ${escaped(info.serviceIp)} on eth0 \\(eth0:1\\) again`));
}

/** The host that does not serve reboots cleanly and never claims: the server answers alone throughout. */
async function standbyReboots(host: sandbox.HostName, server: sandbox.HostName): Promise<void> {
  const before = (await reclaimLines(host)).length;
  const poller = new VantagePoller(info.serviceIp);
  await sandbox.reboot(host);
  await until(`${host}'s cron runs`, async () => (await sh(host, 'pgrep -x cron >/dev/null && echo yes || true')) === 'yes');
  const samples = await watched(poller, 5000);
  neverTwoHolders(samples);
  expect(macsOf(samples).flat().every((m) => m === mac(server))).toBe(true);
  expect(await holders()).toEqual([server]);
  expect((await reclaimLines(host)).slice(before).join('\n')).not.toMatch(/claimed .* again/);
}

test('after the EMERGENCY, megadeth, which serves alone, reboots cleanly and takes the service IP back; one MAC throughout', async () => {
  await serverReboots('megadeth', true);
});

test('during RECOVERY, slayer (the standby) reboots and never claims; megadeth (the server) power-cycles and claims again', async () => {
  await engine.setStatuses(RECOVERY);
  await engine.up('RECOVERY: slayer repaired');
  expect(await holders()).toEqual(['megadeth']);
  await standbyReboots('slayer', 'megadeth');
  await serverReboots('megadeth', false);
});

test('in continuous mode: slayer, the server, reboots and claims, its PostgreSQL writable; megadeth streams from it again; megadeth reboots and never claims', async () => {
  await engine.setStatuses(NORMAL);
  await engine.up('NORMAL again');
  await engine.setConfig('sounz:replication.mode', 'continuous', { path: true });
  await engine.setConfig('sounz:replication.password', 'reboot-test-Pa55word-not-real', { secret: true, path: true });
  await engine.up('NORMAL: continuous replication');
  const isStandby = (host: sandbox.HostName) => sh(host, "runuser -u postgres -- psql -qtAX -c 'SELECT pg_is_in_recovery()'");
  expect(await isStandby('megadeth')).toBe('t');
  await serverReboots('slayer', true);
  await until('slayer\'s PostgreSQL answers', async () => (await isStandby('slayer').catch(() => '')) === 'f');
  await until('megadeth streams from slayer again', async () => (await sh('megadeth',
    "runuser -u postgres -- psql -qtAX -c \"SELECT status FROM pg_stat_wal_receiver\"").catch(() => '')) === 'streaming', 60);
  await standbyReboots('megadeth', 'slayer');
  await until('megadeth is a hot standby again', async () => (await isStandby('megadeth').catch(() => '')) === 't');
});
