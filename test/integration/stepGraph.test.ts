// Issue 24, case 1, through the real engine on the sandbox: a switchover whose claim fails rolls back
// with the old server in its whole old role (status file, guard, rsync daemons), because the step
// graph (model/stepGraph.ts) puts the partner's role after the claim; the retry, once the new server
// is repaired, succeeds.
import * as sandbox from '../../sandbox';
import { Engine } from '../../ops/engine';
import { sandboxStack } from '../../ops/sandboxStack';
import { guardInstalled, holders as holdersOf, rsyncDaemonsRunning, servedBy as servedFrom, sh } from '../support/hosts';
import { runOps } from '../support/ops';

jest.setTimeout(600_000);

let info: sandbox.SandboxInfo;
let engine: Engine;

const servedBy = () => servedFrom(info.serviceIp);
// A bind mount in megadeth's mount namespace only: its arping exits 2, so its claim of the service IP fails.
const BREAK_ARPING = 'printf "#!/bin/sh\\nexit 2\\n" >/run/arping-broken && chmod +x /run/arping-broken && mount --bind /run/arping-broken "$(command -v arping)"';
const MEND_ARPING = 'umount "$(command -v arping)"';

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  engine = await sandboxStack(info, 'step-graph-test');
  await engine.up('NORMAL: first deployment');
});
afterAll(async () => {
  await engine.dispose({ destroy: false });
  await sandbox.down();
});

test('a switchover whose claim fails leaves slayer in its whole old role, and the retry works once megadeth is mended', async () => {
  await sh('megadeth', BREAK_ARPING);
  let failed;
  try {
    failed = await runOps(engine, 'switch', ['switchover', '--reason', 'switchover while megadeth cannot claim', '--yes']);
  } finally {
    await sh('megadeth', MEND_ARPING);
  }
  expect(failed.code).not.toBe(0);
  expect(`${failed.stdout}\n${failed.stderr}`).toMatch(/took the service IP back|takes? the service IP back/);
  expect(await servedBy()).toBe('slayer');
  expect(await holdersOf(info.serviceIp)).toEqual(['slayer']);
  // Its whole old role: the status, the guard, both rsync daemons' configs and processes.
  expect(await sh('slayer', 'cat /etc/sounz/sounz.status')).toBe('production');
  expect(await guardInstalled('slayer')).toBe('guard');
  expect(await sh('slayer', 'ls /etc/sounz/rsyncd-apollo.conf /etc/sounz/rsyncd-sounz.conf')).toBe('/etc/sounz/rsyncd-apollo.conf\n/etc/sounz/rsyncd-sounz.conf');
  expect(await rsyncDaemonsRunning('slayer')).toBe('apollo\nsounz');

  const retried = await runOps(engine, 'switch', ['switchover', '--reason', 'switchover, megadeth mended', '--yes']);
  expect(retried).toMatchObject({ code: 0 });
  expect(await servedBy()).toBe('megadeth');
  expect(await holdersOf(info.serviceIp)).toEqual(['megadeth']);
  expect(await sh('slayer', 'cat /etc/sounz/sounz.status')).toBe('production_as_standby');
});
