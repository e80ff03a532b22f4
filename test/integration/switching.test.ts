// The runbook's procedures as config changes plus `pulumi up`, through the real engine on the
// sandbox: NORMAL -> slayer dies -> EMERGENCY -> slayer repaired -> RECOVERY (by the operator
// command) -> back to NORMAL; then a failing post-switch check, an interrupted up, and EMERGENCY
// with slayer still alive. A poller at the vantage point watches the service IP throughout.
import { execFile } from 'child_process';
import { join } from 'path';
import * as sandbox from '../../sandbox';
import { Engine, PulumiError } from '../../ops/engine';
import { sandboxStack } from '../../ops/sandboxStack';
import { NORMAL, RECOVERY, aloneOn } from '../../model/pairs';
import { VantagePoller } from '../../sandbox/vantagePoller';
import { servedBy as servedFrom } from '../support/hosts';

jest.setTimeout(600_000);

const PRIMARY_DOWN = aloneOn('secondary');

let info: sandbox.SandboxInfo;
let engine: Engine;
let poller: VantagePoller;

const statusOf = async (host: sandbox.HostName) => (await sandbox.execOn(host, ['cat', '/etc/sounz/sounz.status'])).stdout.trim();
const sql = async (host: sandbox.HostName, query: string) =>
  (await sandbox.execOn(host, ['runuser', '-u', 'postgres', '--', 'psql', '-qtA', '-d', 'sounz', '-c', query])).stdout.trim();
const servedBy = () => servedFrom(info.serviceIp);
const holdsServiceIp = async (host: sandbox.HostName) =>
  (await sandbox.execOn(host, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(`inet ${info.serviceIp}/`);
const failureOf = (promise: Promise<unknown>) => promise.then(() => undefined, (e: PulumiError) => e);

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  engine = await sandboxStack(info, 'switching-test');
  poller = new VantagePoller(info.serviceIp);
});
afterAll(async () => {
  await engine.dispose({ destroy: false });
  await sandbox.down();
});

test('NORMAL: slayer serves, megadeth is its standby, the checks pass', async () => {
  await engine.up('NORMAL: first deployment');
  expect(await servedBy()).toBe('slayer');
  expect(await sandbox.arpFromVantage(info.serviceIp)).toEqual([info.hosts.slayer.mac]);
  expect([await statusOf('slayer'), await statusOf('megadeth')]).toEqual(['production', 'standby']);
  const outputs = await engine.outputs();
  expect(outputs).toMatchObject({ serving: 'slayer', standby: 'megadeth', procedure: 'NORMAL', serviceIpHeldBy: 'slayer' });
  expect(Object.values(outputs.checks as Record<string, string>).every((outcome) => outcome === 'ok')).toBe(true);
  expect(Object.keys(outputs.checks as object)).toEqual(expect.arrayContaining([
    `website answers on ${info.serviceIp}:80`, 'Apollo listens on 8983', 'mongrel on 8001',
    'PostgreSQL database sounz over tcp', 'PostgreSQL database sounz over socket', 'rsync daemon on 18993',
    'log /var/log/apollo/apollo.log']));
  await engine.run(['preview', '--expect-no-changes']);
});

test('EMERGENCY with slayer killed: megadeth serves and slayer is left untouched', async () => {
  await sandbox.kill('slayer');
  await engine.setStatuses(PRIMARY_DOWN);
  await engine.up('EMERGENCY: slayer died');
  expect(await servedBy()).toBe('megadeth');
  expect(await statusOf('megadeth')).toBe('production_alone');
  expect(await engine.outputs()).toMatchObject({ serving: 'megadeth', standby: null, untouched: ['slayer'], dataGrab: null });
});

test('straight back to NORMAL from EMERGENCY is refused with the way through RECOVERY', async () => {
  await sandbox.revive('slayer');
  await engine.setStatuses(NORMAL);
  const failure = await failureOf(engine.run(['preview']));
  expect(failure?.message).toContain('Refused: ');
  expect(failure?.message).toContain('production_as_standby');
  expect(await servedBy()).toBe('megadeth');
});

test('RECOVERY by the operator command: repaired slayer becomes the standby of megadeth and catches up', async () => {
  await sandbox.execOn('megadeth', ['sh', '-c', 'echo written-during-emergency >/data/sounz/emergency.txt']);
  await sql('megadeth', 'create table if not exists orders (id int); insert into orders values (42)');
  // The operator answers the question after the preview with "y".
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile('bash', [join(__dirname, '..', '..', 'scripts', 'ops.sh'), 'switch', 'recovery',
      '--reason', 'slayer repaired', '--stack', engine.stack], { env: engine.environment, maxBuffer: 16 << 20 },
    (error, out) => (error ? reject(error) : resolve(out)));
    child.stdin!.end('y\n');
  });
  // It showed the preview: slayer's status file comes back, with the RECOVERY status.
  expect(stdout).toMatch(/\[urn=[^\]]*::slayer-status\][^]*?status +: "production_as_standby"/);
  expect(stdout).toContain('(recovery)? [y/N]');
  expect(await servedBy()).toBe('megadeth');
  expect([await statusOf('slayer'), await statusOf('megadeth')]).toEqual(['production_as_standby', 'standby_as_production']);
  expect((await sandbox.execOn('slayer', ['cat', '/data/sounz/emergency.txt'])).stdout).toBe('written-during-emergency\n');
  expect(await sql('slayer', 'select id from orders')).toBe('42');
  // What the catch-up replaced on slayer is kept aside, and the outputs say where.
  expect((await engine.outputs()).dataGrab).toMatch(/; kept on slayer: sounz-kept-\S+ .*\/data\/sounz\/\.sounz-replication\/kept\//);
});

test('back to NORMAL: what megadeth served is on slayer, and slayer serves again', async () => {
  await sandbox.execOn('megadeth', ['sh', '-c', 'echo written-in-recovery >/data/sounz/recovery.txt']);
  await sql('megadeth', 'insert into orders values (43)');
  await engine.setStatuses(NORMAL);
  await engine.up('back to NORMAL');
  expect(await servedBy()).toBe('slayer');
  expect(await sandbox.arpFromVantage(info.serviceIp)).toEqual([info.hosts.slayer.mac]);
  expect((await sandbox.execOn('slayer', ['cat', '/data/sounz/recovery.txt'])).stdout).toBe('written-in-recovery\n');
  expect(await sql('slayer', 'select id from orders order by id')).toBe('42\n43');
  expect([await statusOf('slayer'), await statusOf('megadeth')]).toEqual(['production', 'standby']);
});

test('a failing post-switch check fails up and names it; once mended, up converges', async () => {
  await sandbox.execOn('megadeth', ['sh', '-c', 'kill "$(cat /run/sounz/mongrel.8001.pid)"']);
  await engine.setStatuses(RECOVERY);
  const failure = await failureOf(engine.up('planned switchover: megadeth serves'));
  expect(failure?.message).toContain('megadeth: post-switch checks failed: check "mongrel on 8001": nothing listens on port 8001');
  await sandbox.up();
  await engine.up('planned switchover: mongrel mended');
  expect(await servedBy()).toBe('megadeth');
});

test('an up killed in the middle of a switch converges when run again, the IP on exactly one host', async () => {
  await engine.setStatuses(NORMAL);
  const abort = new AbortController();
  const interrupted = failureOf(engine.up('back to NORMAL: interrupted', { signal: abort.signal }));
  // Kill the engine once megadeth has let the service IP go and before slayer claims it.
  for (let i = 0; i < 300 && await holdsServiceIp('megadeth'); i++) await new Promise((r) => setTimeout(r, 50));
  abort.abort();
  expect(await interrupted).toBeInstanceOf(PulumiError);
  await engine.run(['cancel', '--yes'], { allowFailure: true });
  await engine.up('back to NORMAL: run again');
  expect([await holdsServiceIp('slayer'), await holdsServiceIp('megadeth')]).toEqual([true, false]);
  expect(await servedBy()).toBe('slayer');
});

test('EMERGENCY with slayer still alive: its data is grabbed first, it ends down without the IP', async () => {
  await sandbox.execOn('slayer', ['sh', '-c', 'echo written-before-emergency >/data/sounz/late.txt']);
  await engine.setStatuses(PRIMARY_DOWN);
  await engine.up('EMERGENCY: slayer sick but answering');
  expect(await servedBy()).toBe('megadeth');
  expect(await statusOf('slayer')).toBe('down');
  expect(await holdsServiceIp('slayer')).toBe(false);
  expect((await sandbox.execOn('megadeth', ['cat', '/data/sounz/late.txt'])).stdout).toBe('written-before-emergency\n');
  expect(await engine.outputs()).toMatchObject({ untouched: [], dataGrab: expect.stringMatching(/^grabbed from slayer at /) });
});

test('the vantage point never saw the service IP claimed by two hosts at once', async () => {
  const samples = await poller.stop();
  expect(samples.length).toBeGreaterThan(30);
  expect(samples.filter((macs) => macs.length > 1)).toEqual([]);
  // It did see both hosts serve in turn.
  expect(new Set(samples.flat())).toEqual(new Set([info.hosts.slayer.mac, info.hosts.megadeth.mac].map((m) => m.toUpperCase())));
});

test('stack history reads as the audit trail, one entry per procedure with its message', async () => {
  const history = (await engine.history()).filter((e) => e.kind === 'update').reverse();
  expect(history.filter((e) => e.result === 'succeeded').map((e) => e.message)).toEqual([
    // The operator command names the operator (test/integration/operator.test.ts checks who).
    'NORMAL: first deployment', 'EMERGENCY: slayer died', expect.stringMatching(/^RECOVERY: slayer repaired \[operator /), 'back to NORMAL',
    'planned switchover: mongrel mended', 'back to NORMAL: run again', 'EMERGENCY: slayer sick but answering']);
  expect(history.filter((e) => e.result === 'failed').map((e) => e.message)).toContain('planned switchover: megadeth serves');
});
