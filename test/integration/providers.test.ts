// Each host provider through the real engine against the sandbox host slayer: create, a no-op
// second preview, an update whose property diff shows in `preview --diff`, drift made by hand found
// by `refresh` and repaired by `up`, delete. Then the failure cases: a claimed service IP, a host
// killed in the middle, and the private key kept out of the exported state.
import { join } from 'path';
import * as sandbox from '../../sandbox';
import { Engine, PulumiError } from '../../ops/engine';
import { closeConnections, runOverSsh, SshTarget } from '../../providers/ssh';
import { statusFileProvider } from '../../providers/statusFile';
import { STATUSES } from '../../model/statuses';
import { escaped, rsyncDaemonsRunning, sh, stopRsyncDaemon } from '../support/hosts';

jest.setTimeout(600_000);

const engine = new Engine({ projectDir: join(__dirname, 'fixtures', 'providers'), stack: 'providers-test' });
let info: sandbox.SandboxInfo;

const onSlayer = async (...argv: string[]) => (await sandbox.execOn('slayer', argv)).stdout;
const set = (key: string, value: string) => engine.setConfig(key, value);
const unset = (key: string) => engine.run(['config', 'rm', key]);
const expectNoChanges = () => engine.run(['preview', '--expect-no-changes']);
/** The `~ key: old => new` line of a property diff, whatever the column width. */
const change = (key: string, from: unknown, to: unknown) =>
  new RegExp(`~ ${key} +: ${escaped(JSON.stringify(from))} => ${escaped(JSON.stringify(to))}\n`);

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  const { name, address, sshPort, user, hostKey } = info.hosts.slayer;
  await engine.init();
  await set('connection', JSON.stringify({ host: name, address, sshPort, user, hostKey }));
  await engine.setConfig('privateKey', info.operatorPrivateKey, { secret: true });
});

afterAll(async () => {
  await closeConnections();
  await engine.dispose();
  await sandbox.down();
});

describe('StatusFile', () => {
  beforeAll(() => onSlayer('rm', '-f', '/etc/sounz/sounz.status'));
  afterAll(() => sandbox.execOn('slayer', ['sh', '-c', 'echo production >/etc/sounz/sounz.status']));

  test('create writes exactly the status and logs the change', async () => {
    await set('status', 'production_alone');
    expect((await engine.preview()).stdout).toContain('status    : "production_alone"');
    await engine.up('status: create');
    expect(await onSlayer('cat', '/etc/sounz/sounz.status')).toBe('production_alone\n');
    expect(await onSlayer('tail', '-n', '1', '/var/log/sounz/sounz-general.log')).toMatch(/sounz\.status none -> production_alone/);
    await expectNoChanges();
  });

  test('update shows the property diff and applies', async () => {
    await set('status', 'standby');
    expect((await engine.preview()).stdout).toMatch(change('status', 'production_alone', 'standby'));
    await engine.up('status: update');
    expect(await onSlayer('cat', '/etc/sounz/sounz.status')).toBe('standby\n');
    expect(await onSlayer('tail', '-n', '1', '/var/log/sounz/sounz-general.log')).toMatch(/production_alone -> standby/);
  });

  test('a hand edit is found by refresh and repaired by up', async () => {
    await onSlayer('sh', '-c', 'echo down >/etc/sounz/sounz.status');
    expect((await engine.refresh('status: refresh')).stdout).toMatch(change('status', 'standby', 'down'));
    await engine.up('status: repair');
    expect(await onSlayer('cat', '/etc/sounz/sounz.status')).toBe('standby\n');
  });

  test('delete removes the file it created', async () => {
    await unset('status');
    await engine.up('status: delete');
    expect(await onSlayer('ls', '/etc/sounz')).not.toContain('sounz.status');
  });

  test('a reader polling during writes sees only whole values', async () => {
    await onSlayer('sh', '-c', 'echo standby >/etc/sounz/sounz.status');
    const provider = statusFileProvider(runOverSsh);
    const { name, address, sshPort, user, hostKey } = info.hosts.slayer;
    const inputs = { host: name, address, sshPort, user, hostKey, privateKey: info.operatorPrivateKey,
      path: '/etc/sounz/sounz.status', logPath: '/var/log/sounz/sounz-general.log' };
    // The reader runs on the host itself for as long as the writes go on, and reports what it saw.
    const reader = sandbox.execOn('slayer', ['sh', '-c',
      'i=0; while [ $i -lt 4000 ]; do cat /etc/sounz/sounz.status 2>&1; i=$((i+1)); done | sort | uniq -c']);
    for (let i = 0; i < 40; i++) {
      await provider.update!('id', inputs as never, { ...inputs, status: STATUSES[i % STATUSES.length] } as never);
    }
    const seen = (await reader).stdout.trim().split('\n').map((line) => line.trim().split(/\s+/)[1]);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.filter((value) => !(STATUSES as readonly string[]).includes(value))).toEqual([]);
    await onSlayer('sh', '-c', 'echo production >/etc/sounz/sounz.status');
  });
});

describe('ServiceAddress', () => {
  const ip = '198.51.100.100';

  test('create claims the address with its label and answers for it on the LAN', async () => {
    await set('serviceIp', ip);
    await set('servicePresent', 'true');
    await engine.up('service ip: create');
    expect(await onSlayer('ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0')).toMatch(/inet 198\.51\.100\.100\/24 .* eth0:1/);
    expect(await sandbox.arpFromVantage(ip)).toEqual([info.hosts.slayer.mac]);
    expect(await sandbox.httpFromVantage(ip)).toMatch(/^slayer /);
    await expectNoChanges();
  });

  test('update shows the property diff and applies', async () => {
    await set('serviceLabel', 'eth0:9');
    expect((await engine.preview()).stdout).toMatch(change('label', 'eth0:1', 'eth0:9'));
    await engine.up('service ip: relabel');
    expect(await onSlayer('ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0')).toMatch(/inet 198\.51\.100\.100\/24 .* eth0:9/);
    await set('serviceLabel', 'eth0:1');
    await engine.up('service ip: label back');
  });

  test('an address removed by hand is found by refresh and restored by up', async () => {
    await onSlayer('ip', 'addr', 'del', `${ip}/24`, 'dev', 'eth0');
    expect((await engine.refresh('service ip: refresh')).stdout).toMatch(change('present', true, false));
    await engine.up('service ip: repair');
    expect(await sandbox.arpFromVantage(ip)).toEqual([info.hosts.slayer.mac]);
  });

  test('delete gives the address back', async () => {
    await unset('servicePresent');
    await engine.up('service ip: delete');
    expect(await onSlayer('ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0')).not.toContain(ip);
    expect(await sandbox.arpFromVantage(ip)).toEqual([]);
  });

  test('an address that megadeth still holds is refused, naming it', async () => {
    await sandbox.execOn('megadeth', ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0', 'label', 'eth0:1']);
    try {
      await set('servicePresent', 'true');
      const failure = await engine.up('service ip: claim a held address').then(() => undefined, (e: PulumiError) => e);
      expect(failure).toBeInstanceOf(PulumiError);
      expect(failure!.result.stdout).toContain(
        `slayer: refusing to add the service IP ${ip}: ${ip} is still answered for by ${info.hosts.megadeth.mac.toUpperCase()} on eth0: someone else holds the service IP`);
      expect(await onSlayer('ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0')).not.toContain(ip);
    } finally {
      await sandbox.execOn('megadeth', ['ip', 'addr', 'del', `${ip}/24`, 'dev', 'eth0']);
      await set('servicePresent', 'false');
      await engine.up('service ip: released');
      await unset('servicePresent');
      await engine.up('service ip: gone');
    }
  });
});

describe('ReplicationCron', () => {
  const file = '/etc/cron.d/sounz-replication';

  test('create writes the cron file of the role', async () => {
    await set('cronJobs', '["dump"]');
    // When the job next runs shows in the preview (issue 12, finding 8).
    expect((await engine.preview()).stdout).toMatch(/nextRun +: "\d{4}-\d\d-\d\d 02:30 \(UTC[+-]\d\d:\d\d\)"/);
    await engine.up('cron: create');
    expect(await onSlayer('cat', file)).toContain('30 2 * * * root /usr/share/sounz/scripts/dr/sounz-replicate dump >>/var/log/sounz/sounz-general.log 2>&1\n');
    await expectNoChanges();
  });

  test('update shows the property diff and applies', async () => {
    await set('cronSchedule', '15 3 * * 1-5');
    const preview = (await engine.preview()).stdout;
    expect(preview).toMatch(change('schedule', '30 2 * * *', '15 3 * * 1-5'));
    expect(preview).toMatch(/~ nextRun +: "[^"]+ 02:30 \(UTC[^"]+" => "\d{4}-\d\d-\d\d 03:15 \(UTC[+-]\d\d:\d\d\)"\n/);
    await engine.up('cron: update');
    expect(await onSlayer('cat', file)).toContain('15 3 * * 1-5 root /usr/share/sounz/scripts/dr/sounz-replicate dump');
  });

  test('a hand edit is found by refresh and repaired by up', async () => {
    await onSlayer('sh', '-c', `echo '* * * * * root rm -rf /data/sounz' >>${file}`);
    expect((await engine.refresh('cron: refresh')).stdout).toMatch(change('schedule', '15 3 * * 1-5', '(edited by hand)'));
    await engine.up('cron: repair');
    expect(await onSlayer('cat', file)).not.toContain('rm -rf');
  });

  test('a role with no job has no file, and delete removes it', async () => {
    await set('cronJobs', '[]');
    await engine.up('cron: no job');
    expect(await onSlayer('ls', '/etc/cron.d')).not.toContain('sounz-replication');
    await set('cronJobs', '["pull-and-restore"]');
    await engine.up('cron: standby job');
    expect(await onSlayer('cat', file)).toContain('root /usr/share/sounz/scripts/dr/sounz-replicate pull-and-restore 198.51.100.11');
    await unset('cronJobs');
    await engine.up('cron: delete');
    expect(await onSlayer('ls', '/etc/cron.d')).not.toContain('sounz-replication');
  });

  test('a schedule that is not cron syntax, or never fires, is refused in check', async () => {
    await set('cronJobs', '["dump"]');
    await set('cronSchedule', '61 2 * * *');
    try {
      const failure = await engine.preview().then(() => undefined, (e: PulumiError) => e);
      expect(failure?.message).toContain('schedule: a cron schedule of five fields separated by single spaces (minute 0-59,');
      expect(failure?.message).toContain(', got "61 2 * * *"');
      await set('cronSchedule', '30 2 31 2 *');
      const never = await engine.preview().then(() => undefined, (e: PulumiError) => e);
      expect(never?.message).toContain('schedule: a cron schedule that fires at least once every year; this one never fires, got "30 2 31 2 *"');
    } finally {
      await unset('cronJobs');
      await unset('cronSchedule');
    }
  });
});

describe('RsyncDaemon', () => {
  const listening = async (port: number) => (await onSlayer('ss', '-Hltn', `sport = :${port}`)).trim() !== '';

  test('create writes the config and starts the daemon', async () => {
    await set('rsyncRunning', 'true');
    await engine.up('rsyncd: create');
    expect(await onSlayer('cat', '/etc/sounz/rsyncd-sounz.conf')).toContain('[data]\n    path = /data/sounz');
    expect(await listening(18993)).toBe(true);
    expect(await rsyncDaemonsRunning('slayer')).toBe('sounz');
    if (sandbox.HOST_KIND === 'debian') {
      // systemd runs it, enabled for boot, in the foreground: no pidfile.
      expect(await sh('slayer', 'systemctl is-enabled sounz-rsyncd-sounz; systemctl is-active sounz-rsyncd-sounz; ls /run/sounz/rsyncd-sounz.pid 2>/dev/null; true'))
        .toBe('enabled\nactive');
    }
    // The daemon holds every listening socket of the port (IPv4 and IPv6 where the host has both).
    const daemon = sandbox.HOST_KIND === 'debian' ? '$(systemctl show -p MainPID --value sounz-rsyncd-sounz)' : '$(cat /run/sounz/rsyncd-sounz.pid)';
    expect(await sh('slayer', `ss -Hltnp "sport = :18993" | grep -vc "pid=${daemon},"`)).toBe('0');
    // The pair's password and the proof token: root's alone (rsync refuses a secrets file others may read).
    expect(await onSlayer('stat', '-c', '%U %a %n', '/etc/sounz/rsyncd-sounz.secrets', '/etc/sounz/rsyncd-sounz.proof', '/etc/sounz/rsyncd-sounz.proof/token'))
      .toBe('root 600 /etc/sounz/rsyncd-sounz.secrets\nroot 700 /etc/sounz/rsyncd-sounz.proof\nroot 600 /etc/sounz/rsyncd-sounz.proof/token\n');
    // The provider's greeting check completes the handshake: the log shows a module-list request, no protocol error.
    const log = await onSlayer('cat', '/var/log/sounz/sounz-general.log');
    expect(log).toMatch(/module-list request from .*\(127\.0\.0\.1\)/);
    expect(log).not.toContain('rsync error');
    await expectNoChanges();
  });

  test('update shows the property diff and moves the daemon', async () => {
    await set('rsyncPort', '18994');
    expect((await engine.preview()).stdout).toMatch(change('port', 18993, 18994));
    await engine.up('rsyncd: port');
    expect(await listening(18994)).toBe(true);
    expect(await listening(18993)).toBe(false);
  });

  test('a daemon stopped by hand is found by refresh and restarted by up', async () => {
    await stopRsyncDaemon('slayer', 'sounz');
    await onSlayer('sleep', '0.3');
    expect((await engine.refresh('rsyncd: refresh')).stdout).toMatch(change('running', true, false));
    await engine.up('rsyncd: repair');
    expect(await listening(18994)).toBe(true);
  });

  // Issue 12, finding 8: sshd listens on 22 but is no rsync daemon; only the daemon's greeting counts.
  test('on a port sshd holds, up fails naming what listens there; back on its port, refresh and up repair it', async () => {
    await set('rsyncPort', '22');
    try {
      const failure = await engine.up('rsyncd: on the ssh port').then(() => undefined, (e: PulumiError) => e);
      expect(failure).toBeInstanceOf(PulumiError);
      expect(failure!.result.stdout).toContain('no rsync daemon of ours answers on port 22 within 5 s (listening there: ');
      expect(failure!.result.stdout).toMatch(/listening there: .*"sshd"/);
    } finally {
      await set('rsyncPort', '18994');
    }
    expect((await engine.refresh('rsyncd: refresh after the failed move')).stdout).toMatch(change('running', true, false));
    await engine.up('rsyncd: back on its port');
    expect(await listening(18994)).toBe(true);
    await expectNoChanges();
  });

  // Issue 27: a plain rsync daemon greets too; only the daemon of our pidfile holding the port counts.
  test('with another rsync daemon on its port, refresh finds ours stopped and up fails naming it, not trusting its greeting', async () => {
    const until = (held: boolean) => `for i in $(seq 50); do ss -Hltn "sport = :18994" | grep -q . ${held ? '&&' : '||'} break; sleep 0.1; done`;
    await stopRsyncDaemon('slayer', 'sounz');
    await onSlayer('sh', '-c', `${until(false)}; ` +
      'printf "port = 18994\\npid file = /tmp/other-rsyncd.pid\\nuse chroot = no\\nlog file = /tmp/other-rsyncd.log\\n[x]\\n    path = /tmp\\n" >/tmp/other-rsyncd.conf; ' +
      `rm -f /tmp/other-rsyncd.pid; rsync --daemon --config=/tmp/other-rsyncd.conf </dev/null >/dev/null 2>&1; ${until(true)}`);
    try {
      expect([await listening(18994), await onSlayer('cat', '/tmp/other-rsyncd.log')]).toEqual([true, expect.stringContaining('listening on port 18994')]);
      expect((await engine.refresh('rsyncd: refresh, another daemon on the port')).stdout).toMatch(change('running', true, false));
      const failure = await engine.up('rsyncd: port taken').then(() => undefined, (e: PulumiError) => e);
      expect(failure).toBeInstanceOf(PulumiError);
      expect(failure!.result.stdout).toMatch(/no rsync daemon of ours answers on port 18994 within 5 s \(listening there: users:\(\("rsync",pid=/);
    } finally {
      await onSlayer('sh', '-c', 'kill "$(cat /tmp/other-rsyncd.pid)"; sleep 0.3');
    }
    await engine.up('rsyncd: the port free again');
    expect(await listening(18994)).toBe(true);
    await expectNoChanges();
  });

  test('delete stops it and removes its config and trust files', async () => {
    await unset('rsyncRunning');
    await engine.up('rsyncd: delete');
    expect(await listening(18994)).toBe(false);
    expect(await onSlayer('ls', '/etc/sounz')).not.toMatch(/rsyncd-sounz\.(conf|secrets|proof)/);
    expect(await sh('slayer', 'ls /etc/systemd/system/sounz-rsyncd-sounz.service /run/sounz/rsyncd-sounz.pid 2>/dev/null; true')).toBe('');
  });
});

describe('failures', () => {
  test('a host killed mid-stack fails up within the timeout, naming it; after revive up converges', async () => {
    await set('status', 'production');
    await engine.up('killed: before');
    await sandbox.kill('slayer');
    try {
      await set('status', 'standby');
      const started = Date.now();
      const failure = await engine.up('killed: during').then(() => undefined, (e: PulumiError) => e);
      expect(failure?.result.stdout).toMatch(new RegExp(`slayer \\(root@${escaped(info.hosts.slayer.address)}:22\\): SSH connection failed`));
      expect(Date.now() - started).toBeLessThan(60_000);
      JSON.parse(await engine.exportState());
    } finally {
      await sandbox.revive('slayer');
    }
    await engine.up('killed: after revive');
    expect(await onSlayer('cat', '/etc/sounz/sounz.status')).toBe('standby\n');
    await expectNoChanges();
  });

  test('a swapped host key is refused', async () => {
    const { name, address, sshPort, user } = info.hosts.slayer;
    const target: SshTarget = { host: name, address, port: sshPort, user, hostKey: info.hosts.megadeth.hostKey,
      privateKey: info.operatorPrivateKey };
    await expect(runOverSsh(target, ['true'])).rejects.toThrow(
      `slayer (root@${address}:22): SSH connection failed: its host key does not match the pinned ssh-ed25519 key`);
  });

  // Issue 12, finding 10: a second sshd on slayer with an RSA host key only, Debian 12's defaults
  // otherwise (no SHA-1 `ssh-rsa` signatures), stopped by its PID inside the host.
  test('a pinned RSA host key connects, with a SHA-2 signature', async () => {
    const { name, address, user } = info.hosts.slayer;
    const sshdConfig = sandbox.HOST_KIND === 'debian' ? '/etc/ssh/sshd_config' : `${sandbox.STATE_DIR}/hosts/slayer/sshd_config`;
    const started = await onSlayer('sh', '-c', `set -eu
      dir=$(mktemp -d /tmp/sshd-rsa.XXXXXX)
      ssh-keygen -q -t rsa -b 3072 -N '' -C '' -f "$dir/host_rsa_key"
      # The host's own sshd's login settings (a Debian host's from /etc/ssh, a namespace host's from the
      # sandbox's state), with this server's address, key and pidfile alone.
      { printf '%s\n' "ListenAddress ${address}:2222" "HostKey $dir/host_rsa_key" "PidFile $dir/sshd.pid" "LogLevel DEBUG1"
        /usr/sbin/sshd -T -f ${sshdConfig} | grep -Ei '^(authorizedkeysfile|permitrootlogin|pubkeyauthentication|passwordauthentication|usepam) '
      } >"$dir/sshd_config"
      /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
      echo "$dir"; cut -d' ' -f1,2 "$dir/host_rsa_key.pub"`);
    const [dir, hostKey] = started.trim().split('\n');
    try {
      expect(hostKey).toMatch(/^ssh-rsa AAAA/);
      const target: SshTarget = { host: name, address, port: 2222, user, hostKey, privateKey: info.operatorPrivateKey };
      expect((await runOverSsh(target, ['echo', 'rsa ok'])).stdout).toBe('rsa ok\n');
      expect(await onSlayer('cat', `${dir}/sshd.log`)).toMatch(/host key algorithm: rsa-sha2-(512|256)/i);
    } finally {
      await closeConnections();
      await onSlayer('sh', '-c', 'kill "$(cat "$1/sshd.pid")"; rm -rf "$1"', 'sh', dir);
    }
  });

  test('the private key never appears in plaintext in the exported state', async () => {
    const state = await engine.exportState();
    const keyBody = info.operatorPrivateKey.split('\n')[1];
    expect(state).not.toContain(keyBody);
    // Present, but as ciphertext under Pulumi's secret signature.
    expect(state).toMatch(/"privateKey": \{\s*"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",\s*"ciphertext"/);
  });
});
