// Issue 13: the split-brain guard's and the fencing hook's provider objects, with the runner injected
// (no engine, no hosts), and the fencing command's config validation. The behaviour on the hosts is
// in test/integration/guard.test.ts.
import { execFileSync } from 'child_process';
import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ConfigError, parseStackConfig } from '../../model';
import { connection, fakeRunner, PRIVATE_KEY } from '../support/fakeRunner';
import {
  GENERATION_MODULE, GUARD_COMMAND, GUARD_CRON_FILE, GUARD_PIDFILE, GUARD_SCRIPT, GUARD_UNIT, renderGuardCron, renderGuardUnit, serviceGuardProvider,
} from '../../providers/serviceGuard';
import { GENERATION_DIR } from '../../model/generation';
import { REPLICATE_COMMAND } from '../../model/hostPaths';
import { PEER_PASSWORD_FILE, PEER_PROOF_FILE, PEER_USER, PROOF_MODULE } from '../../model/peerTrust';
import { ARPING_SENDER_MAC } from '../../providers/ssh';
import { fenceArgv, fenceProvider, LocalRunner, runLocally } from '../../providers/fence';


const guard = { ...connection, running: true, ip: '198.51.100.100', prefixLength: 24, interface: 'eth0', peer: '198.51.100.12', peerPort: 18993 };

describe('ServiceGuard', () => {
  test('check takes the config grammar, refuses what a shell could read, and names unknown inputs', async () => {
    const provider = serviceGuardProvider(fakeRunner().run);
    expect((await provider.check!({}, { ...guard, __provider: 'code' })).inputs).toMatchObject({ peer: '198.51.100.12', __provider: 'code' });
    const bad = await provider.check!({}, { ...guard, peer: '$(reboot)', interface: 'eth0;ls' });
    expect(bad.failures!.map((f) => f.property).sort()).toEqual(['interface', 'peer']);
    const unknown = await provider.check!({}, { ...guard, script: 'x' });
    expect(unknown.failures).toEqual([{ property: '(inputs)', reason: "(inputs): Unrecognized key(s) in object: 'script'" }]);
  });

  test('diff: the role alone is an update, another host a replacement', async () => {
    const provider = serviceGuardProvider(fakeRunner().run);
    expect(await provider.diff!('id', guard, { ...guard })).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
    expect(await provider.diff!('id', guard, { ...guard, running: false })).toMatchObject({ changes: true, replaces: [] });
    expect(await provider.diff!('id', guard, { ...guard, host: 'megadeth' })).toMatchObject({ replaces: ['host'] });
  });

  test('a serving host gets the script on stdin and its values as positional arguments; its unit or its cron file restarts it', async () => {
    const { run, calls } = fakeRunner(() => ({ stdout: 'started\n' }));
    const { id } = await serviceGuardProvider(run).create!(guard);
    expect(id).toBe('slayer:sounz-guard');
    const [{ argv, options }] = calls;
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv[2]).not.toContain('198.51.100');
    expect(argv.slice(3)).toEqual(['sh', GUARD_COMMAND, GUARD_CRON_FILE, renderGuardCron(guard), GUARD_UNIT, renderGuardUnit(guard),
      '198.51.100.100', '24', 'eth0', '198.51.100.12', '18993']);
    // Where systemd runs: the unit, restarted when its arguments change, enabled at boot; elsewhere cron.
    expect(argv[2]).toMatch(/if systemd_runs; then\n  unit_write "\$unit" "\$unitfile" && changed=yes\n  unit_run "\$unit" "\$changed"/);
    expect(renderGuardUnit(guard)).toContain(`\nExecStart=${GUARD_COMMAND} run 198.51.100.100 24 eth0 198.51.100.12 18993\nRestart=always\n`);
    expect(renderGuardUnit(guard)).toContain('\n[Install]\nWantedBy=multi-user.target\n');
    expect(options?.stdin).toBe(GUARD_SCRIPT);
    expect(renderGuardCron(guard)).toContain(`@reboot root ${GUARD_COMMAND} start 198.51.100.100 24 eth0 198.51.100.12 18993 >/dev/null 2>&1\n`);
    expect(renderGuardCron(guard)).toContain(`* * * * * root ${GUARD_COMMAND} start 198.51.100.100 24 eth0 198.51.100.12 18993 `);
  });

  test('a host whose role does not serve, and delete, stop the loop and remove script, unit and cron file', async () => {
    const { run, calls } = fakeRunner();
    const provider = serviceGuardProvider(run);
    await provider.update!('id', guard, { ...guard, running: false });
    await provider.delete!('id', guard);
    for (const { argv } of calls) {
      expect(argv[2]).toContain('rm -f "$pidfile" "$cmd"');
      expect(argv[2]).toContain('unit_remove "$unit"');
      expect(argv.slice(3)).toEqual(['sh', GUARD_COMMAND, GUARD_CRON_FILE, '/run/sounz/guard.pid', 'sounz-guard.service']);
    }
  });

  test('read reports the loop as the host shows it', async () => {
    const provider = serviceGuardProvider(fakeRunner(() => ({ stdout: 'stopped\n' })).run);
    expect((await provider.read!('id', guard)).props).toMatchObject({ running: false });
    const running = serviceGuardProvider(fakeRunner(() => ({ stdout: 'running\n' })).run);
    expect((await running.read!('id', { ...guard, running: false })).props).toMatchObject({ running: true });
  });

  test('the guard script is valid sh, yields only to a larger served generation, and never on an unknown one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'guard-'));
    writeFileSync(join(dir, 'sounz-guard'), GUARD_SCRIPT);
    execFileSync('sh', ['-n', join(dir, 'sounz-guard')]);
    expect(GUARD_SCRIPT).toContain('if [ "$theirs" -gt "$mine" ]; then');
    expect(GUARD_SCRIPT).toMatch(/cannot be learned[^\n]*keeping \$ip/);
    expect(GUARD_SCRIPT).toMatch(/same generation \$mine: keeping \$ip/);
  });

  test('the guard script, a file of its own, names the paths and values the program uses', () => {
    for (const value of [GUARD_PIDFILE, GENERATION_DIR, PEER_PASSWORD_FILE, PEER_PROOF_FILE, `rsync://${PEER_USER}@$peer:$port/$1`,
      `fetch ${GENERATION_MODULE}/served`, `fetch ${PROOF_MODULE}/token`,
      REPLICATE_COMMAND, `sed -n '${ARPING_SENDER_MAC}'`, `unit=${GUARD_UNIT}\n`]) expect(GUARD_SCRIPT).toContain(value);
  });
});

describe('Fence', () => {
  const fence = { host: 'slayer', argv: ['ipmitool', '-H', 'slayer-ipmi', 'chassis', 'power', 'off'], generation: 5, timeoutMs: 1000 };

  test('{host} is replaced inside elements, and nothing else changes', () => {
    expect(fenceArgv(['sh', '-c', 'echo fenced {host} $HOME >>/tmp/x', '{host}{host}'], 'slayer'))
      .toEqual(['sh', '-c', 'echo fenced slayer $HOME >>/tmp/x', 'slayerslayer']);
  });

  test('runs the argv once on create, again only for a new generation; its outcome is in the outputs', async () => {
    const runs: string[][] = [];
    const run: LocalRunner = async (argv) => { runs.push(argv); return { exitCode: 0, output: 'Chassis Power Control: Down/Off' }; };
    const provider = fenceProvider(run);
    const { outs } = await provider.create!(fence);
    expect(outs).toMatchObject({ exitCode: 0, output: 'Chassis Power Control: Down/Off' });
    expect(await provider.diff!('fence:slayer', outs, fence)).toMatchObject({ changes: false });
    expect(await provider.diff!('fence:slayer', outs, { ...fence, generation: 6 })).toMatchObject({ changes: true, replaces: [] });
    await provider.update!('fence:slayer', outs, { ...fence, generation: 6 });
    expect(runs).toEqual([fence.argv, fence.argv]);
  });

  test('a failing command fails with its exit code and output', async () => {
    const provider = fenceProvider(async () => ({ exitCode: 3, output: 'BMC unreachable' }));
    await expect(provider.create!(fence)).rejects.toThrow(
      'fencing slayer failed, so the service IP is not claimed: ["ipmitool","-H","slayer-ipmi","chassis","power","off"] exited 3: BMC unreachable');
    // The fix it names is one that works: not a plain re-run, which runs the same command again.
    await expect(provider.create!(fence)).rejects.toThrow(/NOBODY SERVES until one of: fix the command .* or power slayer off by hand .* pulumi config rm sounz:fenceCommand/);
  });

  test('the real runner uses no shell: metacharacters reach the command as they are', async () => {
    expect(await runLocally(['echo', '$(id)', ';', '`x`'], 5000)).toEqual({ exitCode: 0, output: '$(id) ; `x`' });
    expect(await runLocally(['sh', '-c', 'echo out; echo err >&2; exit 4'], 5000)).toEqual({ exitCode: 4, output: 'out\nerr' });
    expect((await runLocally(['/nonexistent/fence'], 5000)).exitCode).toBe(127);
  });
});

describe('sounz:fenceCommand', () => {
  const SLAYER_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGjSeuXT3SqlAH7BNVe15C8DL+wmlGgjKcrSsposjiVV';
  const BASE = {
    primary: { name: 'slayer', address: 'slayer.example.net', hostKey: SLAYER_KEY },
    secondary: { name: 'megadeth', address: '10.20.0.2', hostKey: SLAYER_KEY },
    sshPrivateKey: PRIVATE_KEY, primaryStatus: 'production', secondaryStatus: 'standby', serviceIp: '192.0.2.46',
  };
  const problems = (fenceCommand: unknown) => {
    try {
      parseStackConfig({ ...BASE, fenceCommand });
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.map((p) => `${p.key}: ${p.complaint}`);
      throw e;
    }
  };

  test('is optional, and an argv of plain strings is taken as it is, shell metacharacters included', () => {
    expect(parseStackConfig(BASE).fenceCommand).toBeUndefined();
    const argv = ['sh', '-c', 'echo fenced {host} >>/tmp/fence-log; exit 0'];
    expect(parseStackConfig({ ...BASE, fenceCommand: argv }).fenceCommand).toEqual(argv);
  });

  test.each([
    ['a string, not a list', 'ipmitool power off', /^sounz:fenceCommand: expected a list of 1 to 64 strings/],
    ['an empty list', [], /^sounz:fenceCommand: expected a list of 1 to 64 strings/],
    ['a number in the list', ['ipmitool', 3], /^sounz:fenceCommand\[1\]: expected a plain string/],
    ['an empty element', ['ipmitool', ''], /^sounz:fenceCommand\[1\]: expected a plain string of 1 to 4096 characters/],
    ['a newline in an element', ['ipmitool', 'a\nb'], /^sounz:fenceCommand\[1\]: expected a plain string of 1 to 4096 characters, without control characters/],
  ])('refuses %s', (_what, value, expected) => {
    expect(problems(value)).toEqual([expect.stringMatching(expected)]);
  });

  test('a data folder served as the rsync module "generation" is refused: that module publishes the generations', () => {
    expect(problems(undefined)).toEqual([]);
    let message = '';
    try { parseStackConfig({ ...BASE, replication: { dataDirs: ['/generation'] } }); } catch (e) { message = (e as Error).message; }
    expect(message).toContain('sounz:replication.dataDirs[0] = "/generation": would be served as the rsync module "generation"');
  });
});
