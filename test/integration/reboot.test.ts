// Issue 26 item 2 through the real engine on the sandbox: a reboot keeps the pair right. `kill` is a
// power cut, `revive` a boot (cron starts and runs its @reboot lines). The serving host takes the service
// IP back by itself (sounz-reclaim, after duplicate-address detection); the standby never claims; the
// older server of an EMERGENCY, whose status file still says production, finds the newer server holding
// the address and stays without it. The vantage point's ARP poller never sees two MACs.
import * as sandbox from '../../sandbox';
import { Engine } from '../../ops/engine';
import { sandboxStack } from '../../ops/sandboxStack';
import { aloneOn } from '../../model/pairs';
import { RECLAIM_COMMAND, RECLAIM_CRON_FILE, SERVICE_ADDRESS_RECORD } from '../../providers/serviceAddress';
import { GUARD_COMMAND } from '../../providers/serviceGuard';
import { escaped, holders as holdersOf, sh } from '../support/hosts';
import { TimedSample, VantagePoller } from '../../sandbox/vantagePoller';

jest.setTimeout(600_000);

let info: sandbox.SandboxInfo;
let engine: Engine;
const holders = async () => (await holdersOf(info.serviceIp)).sort();
const servedBy = async () => (await sandbox.httpFromVantage(info.serviceIp, 80, 1000))?.split(' ')[0] ?? null;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const reclaimLog = (host: sandbox.HostName) => sh(host, "grep 'sounz-reclaim:' /var/log/sounz/sounz-general.log || true");
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

const reclaimLines = async (host: sandbox.HostName) => (await reclaimLog(host)).split('\n').filter(Boolean);

/** A boot; returns the lines the host's sounz-reclaim logged at it (`before`: how many it had logged before). */
async function boot(host: sandbox.HostName, before: number): Promise<string> {
  await sandbox.revive(host);
  let lines: string[] = [];
  await until(`${host}'s sounz-reclaim decides`, async () => (lines = (await reclaimLines(host)).slice(before)).length > 0);
  return lines.join('\n');
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
  await sleep(3000);
  const samples = await poller.stopTimed();
  neverTwoHolders(samples);
  expect(macsOf(samples).slice(-1)).toEqual([[mac('slayer')]]);
  expect(await holders()).toEqual(['slayer']);
  expect(await sh('slayer', 'ip -4 -o addr show dev eth0')).toMatch(new RegExp(`inet ${escaped(info.serviceIp)}/24 .* eth0:1`));
  expect(await reclaimLog('slayer')).toMatch(new RegExp(`sounz-reclaim: booted with sounz\\.status production \\(served since generation \\d+\\) and nobody answers for ${escaped(info.serviceIp)}: ` +
    `claimed ${escaped(info.serviceIp)} on eth0 \\(eth0:1\\) again`));
  // The guard, started by its own @reboot line, guards the address again.
  await until('slayer\'s guard runs', async () => (await sh('slayer', `${GUARD_COMMAND} status`)) === 'running', 10);
});

test('NORMAL: megadeth, the standby, reboots and never claims', async () => {
  const poller = new VantagePoller(info.serviceIp);
  await sandbox.kill('megadeth');
  await sandbox.revive('megadeth');
  // Its cron has started (and run any @reboot line); sounz-reclaim would have claimed within ~3 s of it.
  await until('megadeth\'s cron runs', async () => (await sh('megadeth', 'test -s /run/crond.pid && echo yes || true')) === 'yes');
  await sleep(8000);
  neverTwoHolders(await poller.stopTimed());
  expect(await holders()).toEqual(['slayer']);
  expect(await servedBy()).toBe('slayer');
  expect(await sh('megadeth', 'cat /etc/sounz/sounz.status')).toBe('standby');
  // The release took the boot-time claim off the standby: nothing at boot can add the address.
  expect(await sh('megadeth', `ls ${SERVICE_ADDRESS_RECORD} ${RECLAIM_CRON_FILE} ${RECLAIM_COMMAND} 2>/dev/null; true`)).toBe('');
  expect(await reclaimLog('megadeth')).not.toContain('claimed');
});

test('after an EMERGENCY, slayer (status still production, but older) reboots and does not claim: megadeth answers alone', async () => {
  const before = (await reclaimLines('slayer')).length;
  await sandbox.kill('slayer');
  await engine.setStatuses(aloneOn('secondary'));
  await engine.up('EMERGENCY: slayer lost power');
  expect(await holders()).toEqual(['megadeth']);
  const poller = new VantagePoller(info.serviceIp);
  const decided = await boot('slayer', before);
  await sleep(3000);
  const samples = await poller.stopTimed();
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
