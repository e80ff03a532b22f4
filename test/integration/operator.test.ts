// The operator's commands through the real engine on the sandbox: every switch and replication names
// its operator (OS user, SSH key fingerprint) in `pulumi stack history`; `npm run status` in NORMAL,
// EMERGENCY and RECOVERY, with a late copy, a failed check and two holders made by hand; `npm run
// history` as the audit trail; a plain `pulumi up` and `npm run up` (the program in-process) agree.
import { execFileSync } from 'child_process';
import { hostname, userInfo } from 'os';
import * as sandbox from '../../sandbox';
import { probeArp } from '../../components/preflight';
import { Engine } from '../../ops/engine';
import { sandboxStack } from '../../ops/sandboxStack';
import type { HistoryRow } from '../../ops/history';
import type { PairStatus } from '../../ops/status';
import { runOps, runOpsTimed } from '../support/ops';
import { sh } from '../support/hosts';

jest.setTimeout(600_000);

let info: sandbox.SandboxInfo;
let engine: Engine;
// The operator as the OS and ssh-keygen see it, independently of the code under test.
const operatorUser = `${userInfo().username}@${hostname()}`;
let fingerprint: string;

const status = async () => {
  const run = await runOps(engine, 'status', ['--json']);
  if (run.code === 2) throw new Error(run.stderr);
  return { code: run.code, status: JSON.parse(run.stdout) as PairStatus };
};
const history = async () => JSON.parse((await runOps(engine, 'history', ['--json'])).stdout) as HistoryRow[];
const ok = async (command: string, args: string[]) => {
  const run = await runOps(engine, command, args);
  if (run.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
};

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  engine = await sandboxStack(info, 'operator-test');
  fingerprint = execFileSync('ssh-keygen', ['-lf', info.operatorPrivateKeyPath], { encoding: 'utf8' }).split(' ')[1];
});
afterAll(async () => {
  await engine?.dispose({ destroy: false });
  await sandbox.down();
});

test('NORMAL by the operator command, then replicate-now: both name the operator in stack history', async () => {
  await ok('switch', ['normal', '--reason', 'first deployment', '--yes']);
  await ok('replicateNow', []);
  const [replication, deployment] = await engine.history();
  expect(deployment).toMatchObject({ kind: 'update', result: 'succeeded',
    message: `NORMAL: first deployment [operator ${operatorUser}, key ${fingerprint}]` });
  expect(replication.kind).toBe('refresh');
  expect(replication.message).toMatch(new RegExp(`^REPLICATE-NOW: slayer -> megadeth landed in \\d+\\.\\d s \\[operator ${operatorUser}, key ${fingerprint.replace(/[+/]/g, '\\$&')}\\]$`));
  // The plain CLI shows it too.
  expect((await engine.run(['stack', 'history'])).stdout).toContain(`key ${fingerprint}`);
});

test('status in NORMAL: slayer serves and alone answers, the fresh copy is on megadeth, exit 0', async () => {
  const { code, status: s } = await status();
  expect(s.attention).toEqual([]);
  expect(code).toBe(0);
  expect(s).toMatchObject({ serving: 'slayer', procedure: 'NORMAL', applied: { primary: 'production', secondary: 'standby' },
    serviceIp: { configuredOn: ['slayer'], answeredArp: ['slayer'], website: 'ok' }, lastUpBy: { user: operatorUser, key: fingerprint } });
  expect(s.hosts.map((h) => [h.name, h.status, h.holdsServiceIp])).toEqual([['slayer', 'production', true], ['megadeth', 'standby', false]]);
  // The copy replicate-now just made (the stamp names its source by address): its dump was taken minutes ago.
  expect(s.copy).toMatchObject({ on: 'megadeth', late: false, stamp: expect.stringMatching(/ 198\.51\.100\.11$/) });
  expect(s.copy!.ageSeconds).toBeLessThan(600);
  expect(s.checks.failed).toEqual([]);
  expect(s.lastSwitches).toEqual([]);
  const screen = await runOps(engine, 'status', []);
  expect(screen.stdout).toMatch(/^serving {5}slayer \(NORMAL/m);
  expect(screen.stdout).toMatch(/^attention {3}nothing$/m);
});

test('status: a copy older than the schedule allows needs attention (exit 1)', async () => {
  const stamp = await sh('megadeth', 'cat /etc/sounz/last-replication');
  await sh('megadeth', 'echo "2026-01-01T00:00:00Z slayer" >/etc/sounz/last-replication');
  try {
    const { code, status: s } = await status();
    expect(code).toBe(1);
    expect(s.copy).toMatchObject({ late: true, stamp: '2026-01-01T00:00:00Z slayer' });
    expect(s.attention).toEqual([expect.stringContaining('the last copy on megadeth (2026-01-01T00:00:00Z slayer) is older than the schedule "30 2 * * *" allows')]);
  } finally {
    await sh('megadeth', `echo '${stamp}' >/etc/sounz/last-replication`);
  }
});

test('status: a failed check, recorded by a refresh, needs attention until mended', async () => {
  await sandbox.stopService('slayer', 'mongrel 8001');
  await engine.refresh('mongrel 8001 down', ['--run-program']);
  const { code, status: s } = await status();
  expect(code).toBe(1);
  expect(s.attention).toEqual(['check mongrel on 8001: nothing listens on port 8001']);
  await sandbox.up();
  await engine.refresh('mongrel 8001 mended', ['--run-program']);
  expect((await status()).code).toBe(0);
});

test('EMERGENCY: slayer killed, megadeth serves alone, its progress shown as it ran; status exit 0, the switch is listed with its operator', async () => {
  await sandbox.kill('slayer');
  const run = await runOpsTimed(engine, 'switch', ['emergency', 'slayer', '--reason', 'slayer died', '--yes', '--json']);
  if (run.code !== 0) throw new Error(`switch exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
  const events = run.lines.map((line) => ({ at: line.at, ...(JSON.parse(line.text) as { t: number; step?: string; state?: string; message?: string }) }));
  // The first line within a second of the command's start, by its own clock and by ours.
  expect(events[0]).toMatchObject({ message: expect.stringContaining('reading the config of stack') });
  expect(events[0].t).toBeLessThan(1);
  expect(events[0].at).toBeLessThan(1_000);
  // Each step that did work: a line when it started and one when it was done, in that order, each
  // arriving while the command still ran (the claim's done line well before the command ended).
  const steps = [...new Set(events.filter((e) => e.step && e.state).map((e) => e.step!))];
  expect(steps).toEqual(expect.arrayContaining(['megadeth-service-ip', 'megadeth-status', 'sounz-checks']));
  for (const step of steps) {
    const started = events.find((e) => e.step === step && e.state === 'started')!;
    const done = events.find((e) => e.step === step && e.state === 'done')!;
    expect(started.t).toBeLessThanOrEqual(done.t);
    expect(done.at).toBeLessThan(run.exitedAt);
  }
  const claimed = events.find((e) => e.step === 'megadeth-service-ip' && e.state === 'done')!;
  const checked = events.find((e) => e.step === 'sounz-checks' && e.state === 'done')!;
  expect(claimed.at).toBeLessThan(checked.at);
  // The preflight's answers from both hosts were shown, before the first step started.
  const firstStep = events.findIndex((e) => e.state === 'started');
  expect(events.slice(0, firstStep).map((e) => e.message ?? '').join('\n')).toMatch(/preflight: slayer did not answer[^]*preflight: megadeth answered/);
  const { code, status: s } = await status();
  expect(s.attention).toEqual([]);
  expect(code).toBe(0);
  expect(s).toMatchObject({ serving: 'megadeth', procedure: 'EMERGENCY',
    // Alone, the server's own probe sees nobody else.
    serviceIp: { configuredOn: ['megadeth'], answeredArp: [], website: 'ok' } });
  expect(s.hosts[0]).toMatchObject({ name: 'slayer', reachable: false, declared: 'down' });
  expect(s.hosts[1]).toMatchObject({ name: 'megadeth', status: 'production_alone', holdsServiceIp: true });
  expect(s.copy).toMatchObject({ on: 'megadeth', late: false });
  expect(s.copy!.dueSince).toBeUndefined();
  expect(s.lastSwitches[0]).toMatchObject({ procedure: 'EMERGENCY', reason: 'slayer died', result: 'succeeded',
    who: `${operatorUser} key ${fingerprint}`, before: { primary: 'production', secondary: 'standby' },
    after: { primary: 'down', secondary: 'production_alone' }, risked: expect.stringMatching(/^up to \d+ min of writes \(last copy \S+ 198\.51\.100\.11 \(stack outputs\)\)/) });
});

test('RECOVERY: repaired slayer is megadeth\'s standby and caught up; status exit 0', async () => {
  await sandbox.revive('slayer');
  await ok('switch', ['recovery', '--reason', 'slayer repaired', '--yes']);
  const { code, status: s } = await status();
  expect(s.attention).toEqual([]);
  expect(code).toBe(0);
  expect(s).toMatchObject({ serving: 'megadeth', procedure: 'RECOVERY',
    serviceIp: { configuredOn: ['megadeth'], answeredArp: ['megadeth'], website: 'ok' } });
  expect(s.hosts.map((h) => h.status)).toEqual(['production_as_standby', 'standby_as_production']);
  // The catch-up grab's copy (its stamp names the source by address).
  expect(s.copy).toMatchObject({ on: 'slayer', late: false, stamp: expect.stringMatching(/ 198\.51\.100\.12$/) });
  expect(s.copy!.ageSeconds).toBeLessThan(600);
  expect(s.lastSwitches.map((w) => w.procedure)).toEqual(['RECOVERY', 'EMERGENCY']);
});

test('status: two holders made by hand need attention (exit 1), and one holder again is fine', async () => {
  await sh('slayer', `ip addr add ${info.serviceIp}/24 dev eth0 label eth0:1`);
  try {
    const { code, status: s } = await status();
    expect(code).toBe(1);
    expect(s.serviceIp.configuredOn).toEqual(['slayer', 'megadeth']);
    expect(s.serviceIp.answeredArp).toEqual(['megadeth', 'slayer']);
    expect(s.attention).toContain(`two holders: the service IP ${info.serviceIp} is held by slayer and megadeth`);
  } finally {
    await sh('slayer', `ip addr del ${info.serviceIp}/24 dev eth0`);
  }
  expect((await status()).code).toBe(0);
});

test('history: the audit trail, newest first, with who, procedure, pairs, reason, result, duration and risk', async () => {
  await engine.up('plain pulumi up');
  const rows = await history();
  expect(rows.map((r) => [r.kind, r.procedure, r.reason])).toEqual([
    ['update', 'RECOVERY', 'plain pulumi up'],
    ['update', 'RECOVERY', 'slayer repaired'],
    ['update', 'EMERGENCY', 'slayer died'],
    ['refresh', 'refresh', 'mongrel 8001 mended'],
    ['refresh', 'refresh', 'mongrel 8001 down'],
    ['refresh', 'REPLICATE-NOW', expect.stringMatching(/^slayer -> megadeth landed in /)],
    ['update', 'NORMAL', 'first deployment'],
  ]);
  // A plain up records no operator in the history; the program's own output names who ran the newest.
  expect(rows[0].who).toBe(`${operatorUser} key ${fingerprint} (stack outputs)`);
  expect(rows[3].who).toBe('not recorded (plain pulumi refresh)');
  expect(rows[1]).toMatchObject({ who: `${operatorUser} key ${fingerprint}`, result: 'succeeded', risked: 'none: the server stays',
    before: { primary: 'down', secondary: 'production_alone' }, after: { primary: 'production_as_standby', secondary: 'standby_as_production' } });
  expect(rows.every((r) => r.result === 'succeeded' && r.seconds! > 0)).toBe(true);
  const table = (await runOps(engine, 'history', [])).stdout.split('\n');
  expect(table[0]).toMatch(/^# +when \(UTC\) +who +procedure +pair before -> after +reason +result +duration +risked$/);
  // The EMERGENCY ran with --yes, which does not wait to read the last copy: once it is no longer the
  // newest update (whose outputs name the copy, as status showed above), its risk names no copy.
  expect(table.find((line) => line.includes('slayer died'))).toMatch(
    /EMERGENCY +production\/standby -> down\/production_alone +slayer died +succeeded +\d+ s +the old server's writes since the last copy \(not recorded\)/);
});

test('a CLI up and an operator up agree: each is a no-op after the other; the ARP probe tells a live host from none', async () => {
  // The plain CLI runs index.ts in its language host; `npm run up` the same program in its own process.
  await engine.up('CLI up after the operator commands');
  await ok('up', ['--reason', 'operator up after the CLI']);
  const [operatorUp, cliUp] = await engine.history();
  expect(cliUp).toMatchObject({ kind: 'update', result: 'succeeded', message: 'CLI up after the operator commands' });
  expect(operatorUp).toMatchObject({ kind: 'update', result: 'succeeded',
    message: `UP: operator up after the CLI [operator ${operatorUser}, key ${fingerprint}]` });
  // Nothing created, updated, replaced or deleted by either (the stack's read of its own outputs is a `read`).
  for (const entry of [cliUp, operatorUp]) expect(Object.keys(entry.resourceChanges ?? {}).filter((k) => k !== 'same' && k !== 'read')).toEqual([]);
  expect(operatorUp.resourceChanges!.same).toBeGreaterThan(10);
  expect((await ok('up', ['--preview'])).replace(/\s+/g, ' ')).toContain(`${operatorUp.resourceChanges!.same} unchanged`);
  // From this machine on the sandbox's bridge: megadeth answers ARP; no machine has 198.51.100.13.
  expect(await probeArp(info.hosts.megadeth.address)).toBe(true);
  expect(await probeArp('198.51.100.13')).toBe(false);
});
