// Issue 26, a reboot in the middle of a switch, through the real engine on the sandbox: a planned
// switchover (NORMAL -> RECOVERY, megadeth takes over from slayer) during which one host reboots
// (`systemctl reboot` on a Debian host, a power cycle on a namespace host) at the moment a step starts,
// read from the engine's own events: the final grab, the claim, the checks. Whatever the interrupted
// `up` did, the next `up` converges: megadeth alone answers, both status files say RECOVERY, and the row
// written on slayer before the switch is on megadeth. The vantage point's ARP poller never sees two MACs.
import * as sandbox from '../../sandbox';
import { Engine } from '../../ops/engine';
import { sandboxStack } from '../../ops/sandboxStack';
import { NORMAL, RECOVERY } from '../../model/pairs';
import { holders as holdersOf, servedBy as servedFrom, sh, sql } from '../support/hosts';
import { VantagePoller } from '../../sandbox/vantagePoller';

jest.setTimeout(600_000);

let info: sandbox.SandboxInfo;
let engine: Engine;
const servedBy = () => servedFrom(info.serviceIp, 1000);

/** Each step's resource, by the end of its name: the grab, megadeth's claim, the post-switch checks. */
const MOMENTS = [
  { moment: 'the final grab starts', resource: '-data-grab' },
  { moment: 'megadeth\'s claim starts', resource: '::megadeth-service-ip' },
  { moment: 'the checks start', resource: '-checks' },
];
const CASES = (['slayer', 'megadeth'] as const).flatMap((host) => MOMENTS.map((m) => ({ host, ...m })))
  .map((c, i) => ({ ...c, mark: i + 1 }));

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  engine = await sandboxStack(info, 'reboot-mid-switch');
  await engine.up('NORMAL: first deployment');
  await sql('slayer', 'CREATE TABLE reboot_marks (n integer PRIMARY KEY)');
});
afterAll(async () => {
  await engine.dispose({ destroy: false });
  await sandbox.down();
});

test.each(CASES)('$host reboots when $moment: the next up converges, one holder throughout, nothing lost', async ({ host, resource, mark }) => {
  await engine.setStatuses(NORMAL);
  await engine.up('NORMAL before the case');
  expect(await servedBy()).toBe('slayer');
  await sql('slayer', `INSERT INTO reboot_marks VALUES (${mark})`);

  const poller = new VantagePoller(info.serviceIp);
  let rebooting: Promise<void> | undefined;
  await engine.setStatuses(RECOVERY);
  const interrupted = await engine.up(`planned switchover, ${host} reboots`, {
    onEvent: (event) => {
      const step = event.resourcePreEvent?.metadata;
      if (!rebooting && step && step.op !== 'same' && step.urn.endsWith(resource)) rebooting = sandbox.reboot(host);
    },
  }).then(() => 'succeeded', (error: Error) => `failed: ${error.message.split('\n').find((line) => line.includes('error: ')) ?? ''}`);
  expect(rebooting).toBeDefined();
  await rebooting;
  console.log(`${host} rebooted when ${resource.replace(/^[-:]+/, '')} started: the switch ${interrupted}`);

  await engine.up(`planned switchover, after ${host}'s reboot: run again`);
  const samples = await poller.stopTimed();
  expect(samples.length).toBeGreaterThan(3);
  expect(samples.filter((sample) => sample.macs.length > 1)).toEqual([]);
  expect(await holdersOf(info.serviceIp)).toEqual(['megadeth']);
  expect(await servedBy()).toBe('megadeth');
  expect(await sh('slayer', 'cat /etc/sounz/sounz.status')).toBe('production_as_standby');
  expect(await sh('megadeth', 'cat /etc/sounz/sounz.status')).toBe('standby_as_production');
  expect(await sql('megadeth', `SELECT count(*) FROM reboot_marks WHERE n = ${mark}`)).toBe('1');
  // megadeth takes writes.
  await sql('megadeth', `INSERT INTO reboot_marks VALUES (${100 + mark})`);
});
