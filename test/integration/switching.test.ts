// The runbook's procedures as config changes plus `pulumi up`, through the real engine on the
// sandbox: NORMAL -> slayer dies -> EMERGENCY -> slayer repaired -> RECOVERY -> back to NORMAL.
import * as sandbox from '../../sandbox';
import { Engine, PulumiError } from '../../ops/engine';
import { sandboxStack, setPair } from '../../ops/sandboxStack';

jest.setTimeout(600_000);

let info: sandbox.SandboxInfo;
let engine: Engine;

const statusOf = async (host: sandbox.HostName) => (await sandbox.execOn(host, ['cat', '/etc/sounz/sounz.status'])).stdout.trim();
const sql = async (host: sandbox.HostName, query: string) =>
  (await sandbox.execOn(host, ['runuser', '-u', 'postgres', '--', 'psql', '-qtA', '-d', 'sounz', '-c', query])).stdout.trim();
const servedBy = async () => (await sandbox.httpFromVantage(info.serviceIp))?.split(' ')[0] ?? null;

beforeAll(async () => {
  info = await sandbox.up();
  engine = await sandboxStack(info, 'switching-test');
});
afterAll(async () => {
  await engine.dispose({ destroy: false });
  await sandbox.down();
});

test('NORMAL: slayer serves, megadeth is its standby', async () => {
  await engine.up('NORMAL: first deployment');
  expect(await servedBy()).toBe('slayer');
  expect(await sandbox.arpFromVantage(info.serviceIp)).toEqual([info.hosts.slayer.mac]);
  expect([await statusOf('slayer'), await statusOf('megadeth')]).toEqual(['production', 'standby']);
  expect(await engine.outputs()).toMatchObject({ serving: 'slayer', standby: 'megadeth', procedure: 'NORMAL' });
  await engine.run(['preview', '--expect-no-changes']);
});

test('EMERGENCY with slayer killed: megadeth serves and slayer is left untouched', async () => {
  await sandbox.kill('slayer');
  await setPair(engine, { primary: 'down', secondary: 'production_alone' });
  await engine.up('EMERGENCY: slayer died');
  expect(await servedBy()).toBe('megadeth');
  expect(await statusOf('megadeth')).toBe('production_alone');
  expect(await engine.outputs()).toMatchObject({ serving: 'megadeth', standby: null, untouched: ['slayer'], dataGrab: null });
});

test('straight back to NORMAL from EMERGENCY is refused with the way through RECOVERY', async () => {
  await sandbox.revive('slayer');
  await setPair(engine, { primary: 'production', secondary: 'standby' });
  const failure = await engine.run(['preview']).then(() => undefined, (e: PulumiError) => e);
  expect(failure?.message).toContain('Refused: ');
  expect(failure?.message).toContain('production_as_standby');
  expect(await servedBy()).toBe('megadeth');
});

test('RECOVERY: repaired slayer becomes the standby of megadeth and catches up', async () => {
  await sandbox.execOn('megadeth', ['sh', '-c', 'echo written-during-emergency >/data/sounz/emergency.txt']);
  await sql('megadeth', "create table if not exists orders (id int); insert into orders values (42)");
  await setPair(engine, { primary: 'production_as_standby', secondary: 'standby_as_production' });
  await engine.up('RECOVERY: slayer repaired');
  expect(await servedBy()).toBe('megadeth');
  expect([await statusOf('slayer'), await statusOf('megadeth')]).toEqual(['production_as_standby', 'standby_as_production']);
  expect((await sandbox.execOn('slayer', ['cat', '/data/sounz/emergency.txt'])).stdout).toBe('written-during-emergency\n');
  expect(await sql('slayer', 'select id from orders')).toBe('42');
});

test('back to NORMAL: what megadeth served is on slayer, and slayer serves again', async () => {
  await sandbox.execOn('megadeth', ['sh', '-c', 'echo written-in-recovery >/data/sounz/recovery.txt']);
  await sql('megadeth', 'insert into orders values (43)');
  await setPair(engine, { primary: 'production', secondary: 'standby' });
  await engine.up('back to NORMAL');
  expect(await servedBy()).toBe('slayer');
  expect(await sandbox.arpFromVantage(info.serviceIp)).toEqual([info.hosts.slayer.mac]);
  expect((await sandbox.execOn('slayer', ['cat', '/data/sounz/recovery.txt'])).stdout).toBe('written-in-recovery\n');
  expect(await sql('slayer', 'select id from orders order by id')).toBe('42\n43');
  expect([await statusOf('slayer'), await statusOf('megadeth')]).toEqual(['production', 'standby']);
});

test('stack history reads as the audit trail, one entry per procedure', async () => {
  const messages = (await engine.history()).filter((e) => e.kind === 'update').map((e) => e.message).reverse();
  expect(messages).toEqual(['NORMAL: first deployment', 'EMERGENCY: slayer died', 'RECOVERY: slayer repaired', 'back to NORMAL']);
});
