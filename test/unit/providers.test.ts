// The provider objects themselves, with the SSH runner injected: no engine, no hosts. What they send
// to a host, how they diff, and how they refuse (the engine-level tests are in test/integration).
import { Call, connection, fakeRunner, HOST_KEY, PRIVATE_KEY } from '../support/fakeRunner';
import { statusFileProvider } from '../../providers/statusFile';
import { serviceAddressProvider, ADDRESS_IN_USE } from '../../providers/serviceAddress';
import { nextRunText, replicationCronProvider, renderCronFile } from '../../providers/replicationCron';
import { dataGrabProvider } from '../../providers/dataGrab';
import { serviceChecksProvider } from '../../providers/serviceChecks';
import { keptOf, renderSettings, replicate, replicationScriptProvider } from '../../providers/replicationScript';
import { renderRsyncConfig, renderRsyncUnit, rsyncDaemonProvider } from '../../providers/rsyncDaemon';
import { PEER_PASSWORD_FILE, PEER_PROOF_FILE, peerPassword, proofToken } from '../../model/peerTrust';


describe('check refuses what a shell could read, naming the property and never the key', () => {
  test.each([
    ['status', { status: 'production; rm -rf /' }, 'status: one of down, production, standby'],
    ['address', { address: '$(reboot)' }, 'address: an IPv4 address or a DNS hostname'],
    ['hostKey', { hostKey: 'ssh-ed25519 AAAA\nevil' }, 'hostKey: the host\'s public key line'],
    ['privateKey', { privateKey: 'not a key' }, 'privateKey: an OpenSSH or PEM private key block'],
  ])('%s', async (property, change, reason) => {
    const result = await statusFileProvider(fakeRunner().run).check!({}, { ...connection, status: 'production', generation: 1, ...change });
    expect(result.failures).toEqual([expect.objectContaining({ property, reason: expect.stringContaining(reason) })]);
    expect(JSON.stringify(result.failures)).not.toContain('not a key');
  });

  // Issue 12, finding 9.
  test('an unknown input is named, never quoted, and nothing that looks like a private key is', async () => {
    const provider = statusFileProvider(fakeRunner().run);
    const unknown = await provider.check!({}, { ...connection, status: 'production', generation: 1, sshKey: PRIVATE_KEY });
    expect(unknown.failures).toEqual([{ property: '(inputs)', reason: "(inputs): Unrecognized key(s) in object: 'sshKey'" }]);
    const pasted = await provider.check!({}, { ...connection, status: 'production', generation: 1, hostKey: PRIVATE_KEY });
    expect(pasted.failures).toEqual([expect.objectContaining({ property: 'hostKey', reason: expect.stringMatching(/, got \(looks like a private key: not shown\)$/) })]);
    expect(JSON.stringify([unknown, pasted])).not.toContain('b3BlbnNzaC1rZXkt');
  });

  test('a valid input gets its defaults and keeps the serialized provider', async () => {
    const result = await statusFileProvider(fakeRunner().run).check!({}, { ...connection, status: 'standby', generation: 1, __provider: 'code' });
    expect(result.failures).toEqual([]);
    expect(result.inputs).toMatchObject({ path: '/etc/sounz/sounz.status', __provider: 'code' });
  });
});

test('diff names changes and replaces exactly: another host replaces, another key does not', async () => {
  const provider = statusFileProvider(fakeRunner().run);
  const olds = { ...connection, status: 'production', path: '/etc/sounz/sounz.status', logPath: '/var/log/sounz/sounz-general.log' };
  expect(await provider.diff!('id', olds, { ...olds })).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  expect(await provider.diff!('id', olds, { ...olds, status: 'standby' })).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  expect(await provider.diff!('id', olds, { ...olds, privateKey: PRIVATE_KEY + ' ' })).toMatchObject({ changes: true, replaces: [] });
  expect(await provider.diff!('id', olds, { ...olds, host: 'megadeth' })).toMatchObject({ changes: true, replaces: ['host'] });
});

test('config values reach the host as positional arguments of a fixed script, never inside it', async () => {
  const { run, calls } = fakeRunner(() => ({ stdout: 'created\n' }));
  await statusFileProvider(run).create!({ ...connection, status: 'standby', generation: 7, path: '/etc/sounz/sounz.status', logPath: '/var/log/x.log' });
  const [{ argv }] = calls;
  expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
  expect(argv[2]).not.toContain('standby');
  expect(argv.slice(3)).toEqual(['sh', '/etc/sounz/sounz.status', 'standby', '/var/log/x.log', '7', '/etc/sounz/generation']);
});

const claiming = (call: Call) => call.argv[2]?.includes('arping -q -D');
const serviceIpInputs = { ...connection, ip: '198.51.100.100', prefixLength: 24, interface: 'eth0', label: 'eth0:1', present: true,
  generation: 3, drift: [], rollback: null };
const interfaceHas = (...lines: string[]) => ({ stdout: lines.map((l) => `${l}\n`).join('') });

test('ServiceAddress turns the claim script\'s in-use exit into a refusal naming the address', async () => {
  const { run } = fakeRunner((call) => (claiming(call)
    ? { code: ADDRESS_IN_USE, stderr: '198.51.100.100 is still answered for by 02:5A:00:00:00:12 on eth0: someone else holds the service IP' }
    : interfaceHas('198.51.100.11/24 eth0')));
  const inputs = serviceIpInputs;
  await expect(serviceAddressProvider(run).create!(inputs)).rejects.toThrow(
    'slayer: refusing to add the service IP 198.51.100.100: 198.51.100.100 is still answered for by 02:5A:00:00:00:12 on eth0');
});

test('a claim that fails with nobody to take the address back (an EMERGENCY) says NOBODY SERVES and the next step', async () => {
  const { run } = fakeRunner((call) => (claiming(call) ? { code: 1, stderr: 'RTNETLINK answers: Operation not permitted' }
    : interfaceHas('198.51.100.11/24 eth0')));
  await expect(serviceAddressProvider(run).create!(serviceIpInputs)).rejects.toThrow(
    /^NOBODY SERVES 198\.51\.100\.100: slayer: adding the service IP 198\.51\.100\.100 failed: .*Next: fix slayer .* run the same switch again/);
});

test('the cron file of a receiver pulls from its source; a role with no job removes the file', async () => {
  const inputs = { ...connection, jobs: ['pull-and-restore' as const], schedule: '30 2 * * *', source: '198.51.100.11',
    command: '/usr/share/sounz/scripts/dr/sounz-replicate', file: 'sounz-replication' };
  expect(renderCronFile(inputs)).toContain(
    '30 2 * * * root /usr/share/sounz/scripts/dr/sounz-replicate pull-and-restore 198.51.100.11 >>/var/log/sounz/sounz-general.log 2>&1\n');
  const { run, calls } = fakeRunner();
  await replicationCronProvider(run).update!('id', inputs, { ...inputs, jobs: [] });
  expect(calls[0].argv).toEqual(['rm', '-f', '/etc/cron.d/sounz-replication']);
});

// Issue 12, finding 8: the preview shows when the jobs next run; a schedule that never fires is refused.
describe('ReplicationCron check', () => {
  const inputs = { ...connection, jobs: ['dump' as const], schedule: '30 2 * * *', source: '198.51.100.12' };

  test('fills in the next run, which diff does not compare', async () => {
    const provider = replicationCronProvider(fakeRunner().run);
    const { inputs: checked, failures } = await provider.check!({}, inputs);
    expect(failures).toEqual([]);
    expect(checked.nextRun).toMatch(/^\d{4}-\d\d-\d\d 02:30 \(UTC[+-]\d\d:\d\d\)$/);
    expect(await provider.diff!('id', { ...checked, nextRun: '2020-01-01 02:30 (UTC+00:00)' }, checked)).toMatchObject({ changes: false });
    expect(nextRunText([], '30 2 * * *')).toBe('never: this host runs no replication job');
  });

  test('refuses a schedule that never fires', async () => {
    const { failures } = await replicationCronProvider(fakeRunner().run).check!({}, { ...inputs, schedule: '30 2 31 2 *' });
    expect(failures).toEqual([{ property: 'schedule',
      reason: 'schedule: a cron schedule that fires at least once every year; this one never fires, got "30 2 31 2 *"' }]);
  });
});

describe('DataGrab', () => {
  const inputs = { ...connection, host: 'megadeth', address: '198.51.100.12',
    source: { host: 'slayer', address: '198.51.100.11', sshPort: 22, user: 'root', hostKey: HOST_KEY }, reason: 'EMERGENCY',
    mandatory: false, final: false, generation: 2 };
  const failingPull = () => fakeRunner((call) => (call.argv.includes('pull-and-restore') ? { code: 1, stderr: 'rsync failed' } : {}));

  test('dumps on the source, then pulls and restores on the incoming host, bounded on both', async () => {
    const { run, calls } = fakeRunner();
    const { outs } = await dataGrabProvider(run).create!(inputs);
    const command = '/usr/share/sounz/scripts/dr/sounz-replicate';
    expect(calls.map((c) => [c.host, ...c.argv])).toEqual([
      ['slayer', 'timeout', '120', command, '--switch', 'dump'],
      ['megadeth', 'timeout', '120', command, '--switch', 'pull-and-restore', '198.51.100.11']]);
    expect(outs.outcome).toMatch(/^grabbed from slayer at /);
  });

  test('the final grab freezes the source first; its outcome lists what the receiver kept', async () => {
    const { run, calls } = fakeRunner((call) => (call.argv.includes('pull-and-restore')
      ? { stdout: 'kept: sounz-kept-20261125-0200-g3 /data/sounz/.sounz-replication/kept-20261125-0200-g3\n' } : {}));
    const { outs } = await dataGrabProvider(run).create!({ ...inputs, final: true });
    expect(calls[0].argv).toEqual(['/usr/share/sounz/scripts/dr/sounz-replicate', 'freeze']);
    expect(outs.outcome).toMatch(/^grabbed from slayer at .*; kept on megadeth: sounz-kept-20261125-0200-g3 \/data\/sounz\/\.sounz-replication\/kept-20261125-0200-g3$/);
  });

  test('a mandatory final grab that fails thaws the source and says it still serves', async () => {
    const { run, calls } = fakeRunner((call) => (call.argv.includes('pull-and-restore') ? { code: 1, stderr: 'restore failed' } : {}));
    await expect(dataGrabProvider(run).create!({ ...inputs, final: true, mandatory: true })).rejects.toThrow(
      'the final data grab from slayer to megadeth failed: megadeth: failed: restore failed. slayer keeps the service IP and takes writes again');
    expect(calls.at(-1)?.argv).toEqual(['/usr/share/sounz/scripts/dr/sounz-replicate', 'thaw']);
  });

  test('a best-effort grab reports its failure; a mandatory one fails the switch', async () => {
    const { outs } = await dataGrabProvider(failingPull().run).create!(inputs);
    expect(outs.outcome).toBe('skipped: the best-effort grab from slayer failed: megadeth: failed: rsync failed');
    await expect(dataGrabProvider(failingPull().run).create!({ ...inputs, mandatory: true })).rejects.toThrow('rsync failed');
  });

  test('a best-effort final grab whose freeze fails is skipped (the switch goes on); a mandatory one fails, naming the freeze', async () => {
    const readOnly = () => fakeRunner((call) => (call.argv.includes('freeze')
      ? { code: 1, stderr: 'cannot execute ALTER DATABASE in a read-only transaction' } : {}));
    const { run, calls } = readOnly();
    const { outs } = await dataGrabProvider(run).create!({ ...inputs, final: true });
    expect(outs.outcome).toBe("skipped: the freeze of slayer's database failed: slayer: failed: cannot execute ALTER DATABASE in a read-only transaction");
    expect(calls).toHaveLength(1);
    await expect(dataGrabProvider(readOnly().run).create!({ ...inputs, final: true, mandatory: true })).rejects.toThrow(
      'could not freeze its database: slayer: failed: cannot execute ALTER DATABASE');
  });

  test('a mandatory final grab whose source dies says NOBODY SERVES and that an EMERGENCY is next', async () => {
    const { run } = fakeRunner((call) => (call.argv.includes('pull-and-restore') || call.argv.includes('thaw')
      ? { code: 255, stderr: 'connection lost' } : {}));
    await expect(dataGrabProvider(run).create!({ ...inputs, final: true, mandatory: true })).rejects.toThrow(
      /NOBODY SERVES writes: slayer keeps .* the next step is an EMERGENCY: npm run switch -- emergency slayer/);
  });
});

test('ServiceChecks fails with every failed check by name and what it saw', async () => {
  const { run } = fakeRunner((call) => ({
    stdout: call.argv[2].includes('listens()') ? 'Apollo listens on 8983|ok\nmongrel on 8001|nothing listens on port 8001\n' : 'never\n',
  }));
  const inputs = { ...connection, reason: '(production, standby)', serviceIp: '127.0.0.1', interface: 'eth0', websitePort: 1, apolloPort: 8983,
    mongrelPorts: [8001], rsyncPorts: [18993], database: 'sounz',
    replicaHost: { host: 'megadeth', address: '198.51.100.12', sshPort: 22, user: 'root', hostKey: HOST_KEY } };
  await expect(serviceChecksProvider(run).create!(inputs)).rejects.toThrow(
    /^slayer: post-switch checks failed: check "website answers on 127\.0\.0\.1:1": no answer: .*; check "mongrel on 8001": nothing listens on port 8001$/);
});

test('ServiceChecks passes the application\'s role to its script, or "" when there is none', async () => {
  const { run, calls } = fakeRunner((call) => ({ stdout: call.argv[2].includes('listens()') ? 'Apollo listens on 8983|ok\n' : 'never\n' }));
  const inputs = { ...connection, reason: '(production, standby)', serviceIp: '127.0.0.1', interface: 'eth0', websitePort: 1, apolloPort: 8983,
    mongrelPorts: [8001], rsyncPorts: [18993], database: 'sounz',
    replicaHost: { host: 'megadeth', address: '198.51.100.12', sshPort: 22, user: 'root', hostKey: HOST_KEY } };
  const provider = serviceChecksProvider(run);
  await provider.read!('id', { ...inputs, appRole: 'sounz_app' } as never);
  await provider.read!('id', inputs as never);
  expect(calls.filter((c) => c.argv[2].includes('listens()')).map((c) => c.argv.slice(4, 10)))
    .toEqual([['127.0.0.1', 'sounz', '8983', '8001', '18993', 'sounz_app'], ['127.0.0.1', 'sounz', '8983', '8001', '18993', '']]);
  expect((await provider.check!({}, { ...inputs, appRole: 'pg_read_all_data' })).failures).toEqual([
    expect.objectContaining({ property: 'appRole', reason: expect.stringContaining('not starting with a digit or "pg_"') })]);
});

const password = peerPassword(PRIVATE_KEY, 'slayer/megadeth');

describe('the pair\'s rsync password and proof token', () => {
  test('one password per pair and key, and a token that is neither the password nor gives it away', () => {
    expect(password).toMatch(/^[0-9a-f]{64}$/);
    expect(peerPassword(PRIVATE_KEY, 'slayer/megadeth')).toBe(password);
    expect(peerPassword(PRIVATE_KEY, 'anthrax/megadeth')).not.toBe(password);
    expect(peerPassword(PRIVATE_KEY.replace('b3Bl', 'c3Bl'), 'slayer/megadeth')).not.toBe(password);
    expect(proofToken(password)).toMatch(/^[0-9a-f]{64}$/);
    expect(proofToken(password)).not.toBe(password);
  });
});

describe('RsyncDaemon', () => {
  const inputs = { ...connection, name: 'sounz', port: 18993, modules: { 'data-sounz': '/data/sounz', generation: '/etc/sounz/generation' },
    allowFrom: '198.51.100.12', password, running: true };

  test('the config lets in the pair\'s user alone, lists no modules, and serves the proof token beside the data', () => {
    const config = renderRsyncConfig(inputs);
    expect(config).toContain('hosts allow = 198.51.100.12\nhosts deny = *\nauth users = sounz-peer\n' +
      'secrets file = /etc/sounz/rsyncd-sounz.secrets\nlist = no\n');
    expect(config).toContain('[data-sounz]\n    path = /data/sounz\n');
    expect(config).toContain('[sounz-proof]\n    path = /etc/sounz/rsyncd-sounz.proof\n    comment = sounz sounz-proof\n');
    expect(config).not.toContain(password);
  });

  test('the password and the token travel on stdin, never on a command line, and start proves the daemon by its pid on the port', async () => {
    const { run, calls } = fakeRunner();
    await rsyncDaemonProvider(run).create!(inputs);
    expect(calls).toHaveLength(1);
    expect(calls[0].argv.join(' ')).not.toContain(password);
    expect(calls[0].argv.join(' ')).not.toContain(proofToken(password));
    expect(calls[0].argv[2]).toContain('ss -Hltnp');
    expect(calls[0].options?.stdin).toBe(`sounz-peer:${password}\n${proofToken(password)}\n${renderRsyncConfig(inputs)}`);
  });

  test('where systemd runs the daemon is its unit, in the foreground; elsewhere it detaches and names its pidfile', async () => {
    const { run, calls } = fakeRunner();
    const provider = rsyncDaemonProvider(run);
    await provider.create!(inputs);
    await provider.delete!('id', inputs);
    const [start, stop] = calls.map((call) => call.argv);
    expect(start.slice(3, 9)).toEqual(['sh', '/etc/sounz/rsyncd-sounz.conf', '/run/sounz/rsyncd-sounz.pid', '18993', 'sounz-rsyncd-sounz.service', renderRsyncUnit(inputs)]);
    expect(renderRsyncUnit(inputs)).toContain('\nExecStart=/usr/bin/rsync --daemon --no-detach --config=/etc/sounz/rsyncd-sounz.conf\nRestart=always\n');
    expect(start[2]).toContain('rsync --daemon --config="$conf" --dparam=pidfile="$pidfile"');
    // The config is the same on both kinds of host: no pidfile in it.
    expect(renderRsyncConfig(inputs)).not.toContain('pid file');
    expect(stop.slice(3)).toEqual(['sh', '/etc/sounz/rsyncd-sounz.conf', '/run/sounz/rsyncd-sounz.pid', 'sounz-rsyncd-sounz.service']);
    expect(stop[2]).toContain('unit_remove "$unit"');
  });

  test('check refuses a module named as the proof, and a password not the program\'s, never quoting it', async () => {
    const provider = rsyncDaemonProvider(fakeRunner().run);
    const proof = await provider.check!({}, { ...inputs, modules: { 'sounz-proof': '/tmp/forged' } });
    expect(proof.failures).toEqual([expect.objectContaining({ property: 'modules', reason: expect.stringContaining('no module named sounz-proof') })]);
    const weak = await provider.check!({}, { ...inputs, password: 'letmein-letmein-letmein' });
    expect(weak.failures).toEqual([{ property: 'password', reason: 'password: an rsync password of the pair: 64 hexadecimal digits, got (secret)' }]);
  });
});

describe('ReplicationScript', () => {
  const settings = { database: 'sounz', dumpDir: '/var/backups/sounz', indexDir: '/var/lib/apollo/index', sounzRsyncPort: 18993,
    apolloRsyncPort: 18983, modules: { 'data-sounz': '/data/sounz' }, pair: 'slayer/megadeth', keepDays: 7, runTimeout: 14_400, keepCopies: 14, freeFloorMegabytes: 1024 };

  test('the settings name this host, the pair its markers must carry, and how long copies keep what they replace', () => {
    expect(renderSettings({ ...settings, host: 'slayer' })).toContain('HOST=slayer\nPAIR=slayer/megadeth\nKEEP_DAYS=7\nKEEP_COPIES=14\nFREE_FLOOR_MB=1024\n');
  });

  test('check refuses no kept copies and a floor that is not a whole number of megabytes', async () => {
    const result = await replicationScriptProvider(fakeRunner().run).check!({},
      { ...connection, script: '#!/bin/sh\n', password, ...settings, keepCopies: 0, freeFloorMegabytes: 1.5 });
    expect(result.failures).toEqual([
      expect.objectContaining({ property: 'keepCopies', reason: expect.stringContaining('from 1 to 1000') }),
      expect.objectContaining({ property: 'freeFloorMegabytes', reason: expect.stringContaining('from 0 to 1048576') })]);
  });

  test('the settings bound each run by the config\'s runTimeout, and check refuses a bound under a minute', async () => {
    expect(renderSettings({ ...settings, host: 'slayer', runTimeout: 3600 })).toContain('\nRUN_BOUND_SECONDS=3600\n');
    const result = await replicationScriptProvider(fakeRunner().run).check!({}, { ...connection, script: '#!/bin/sh\n', password, ...settings, runTimeout: 5 });
    expect(result.failures).toEqual([expect.objectContaining({ property: 'runTimeout', reason: expect.stringContaining('from 60 to 86400') })]);
  });

  test.each([['slayer/slayer'], ['slayer'], ['slayer/megadeth/anthrax'], ['slayer/$(reboot)']])('check refuses the pair %j', async (pair) => {
    const result = await replicationScriptProvider(fakeRunner().run).check!({}, { ...connection, script: '#!/bin/sh\n', password, ...settings, pair });
    expect(result.failures).toEqual([expect.objectContaining({ property: 'pair', reason: expect.stringContaining('two different host names') })]);
  });

  test('the password and the token go to root-only files, through stdin', async () => {
    const { run, calls } = fakeRunner();
    await replicationScriptProvider(run).create!({ ...connection, script: '#!/bin/sh\n', password, ...settings });
    expect(calls.map((c) => c.argv.slice(4))).toEqual([
      ['/etc/sounz/replication.conf', '0644'], [PEER_PASSWORD_FILE, '0600'], [PEER_PROOF_FILE, '0600'],
      ['/usr/share/sounz/scripts/dr/sounz-replicate', '0755']]);
    expect(calls.map((c) => c.options?.stdin)).toEqual([expect.any(String), `${password}\n`, `${proofToken(password)}\n`, '#!/bin/sh\n']);
    expect(JSON.stringify(calls.map((c) => c.argv))).not.toContain(password);
  });

  test('replicate() returns the receiver\'s kept line: the old database (if any) and folders', async () => {
    const { run } = fakeRunner((call) => ({
      stdout: call.argv.includes('pull-and-restore') ? 'kept: sounz-kept-20261125-021502-g4 /data/sounz/.sounz-replication/kept/20261125-021502-g4\n' : '',
    }));
    const target = { ...connection, port: 22 };
    expect(await replicate(run, target, { ...target, host: 'megadeth' }, { wait: false, switching: false, timeoutSeconds: 60 }))
      .toEqual(['sounz-kept-20261125-021502-g4', '/data/sounz/.sounz-replication/kept/20261125-021502-g4']);
    expect(keptOf('nothing\n')).toEqual([]);
  });
});
