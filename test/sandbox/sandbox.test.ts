/**
 * Acceptance of issue 3: the sandbox (two real hosts in network namespaces), asserted for real.
 * Needs root. One shared `up` for the whole file; the last test does up → down → up, and the file ends with down().
 * Set SOUNZ_SANDBOX_KEEP=1 to leave the sandbox up after the file.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as sb from '../../sandbox';

jest.setTimeout(15 * 60 * 1000); // the first up() may apt-get install packages

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const d = isRoot ? describe : describe.skip;

interface Res { code: number; stdout: string; stderr: string; ms: number }
function sh(cmd: string, args: string[], timeoutMs = 30_000): Promise<Res> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

const SSH_CONNECT_TIMEOUT = 10; // seconds: the limit within which an SSH attempt to a killed host must fail

d('sandbox (issue 3)', () => {
  let info: sb.SandboxInfo;
  let tmp: string;
  let keyFile: string;
  const knownHostsFor: Record<string, string> = {};

  /** ssh as root to `host`, pinning `pinAs`'s host key for host's address. */
  function ssh(host: sb.HostName, command: string, pinAs: sb.HostName = host): Promise<Res> {
    const kh = path.join(tmp, `known_hosts.${host}.as.${pinAs}`);
    if (!knownHostsFor[kh]) {
      fs.writeFileSync(kh, `${info.hosts[host].address} ${info.hosts[pinAs].hostKey}\n`);
      knownHostsFor[kh] = kh;
    }
    return sh('ssh', [
      '-o', `UserKnownHostsFile=${kh}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes',
      '-o', 'BatchMode=yes', '-o', `ConnectTimeout=${SSH_CONNECT_TIMEOUT}`, '-o', 'IdentitiesOnly=yes', '-i', keyFile,
      '-p', String(info.hosts[host].sshPort), `${info.hosts[host].user}@${info.hosts[host].address}`, command,
    ], (SSH_CONNECT_TIMEOUT + 20) * 1000);
  }

  let runNetnsMountedBefore = false;

  beforeAll(async () => {
    runNetnsMountedBefore = / \/run\/netns /.test(fs.readFileSync('/proc/mounts', 'utf8'));
    const t0 = Date.now();
    info = await sb.up();
    // eslint-disable-next-line no-console
    console.log(`sandbox up: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sounz-sandbox-test-'));
    keyFile = path.join(tmp, 'operator_key');
    fs.writeFileSync(keyFile, info.operatorPrivateKey, { mode: 0o600 });
  });

  afterAll(async () => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    if (!process.env.SOUNZ_SANDBOX_KEEP) await sb.down();
  });

  test('info() follows the contract', () => {
    expect(sb.hostnames).toEqual(['slayer', 'megadeth']);
    expect(info.serviceIp).toBe('198.51.100.100');
    expect(info.hosts.slayer).toMatchObject({ name: 'slayer', address: '198.51.100.11', sshPort: 22, user: 'root', netns: 'sounz-slayer' });
    expect(info.hosts.megadeth).toMatchObject({ name: 'megadeth', address: '198.51.100.12', sshPort: 22, user: 'root', netns: 'sounz-megadeth' });
    for (const h of sb.hostnames) {
      expect(info.hosts[h].hostKey).toMatch(/^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/);
      expect(info.hosts[h].mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    }
    expect(info.hosts.slayer.hostKey).not.toBe(info.hosts.megadeth.hostKey);
    expect(info.operatorPrivateKey).toContain('BEGIN OPENSSH PRIVATE KEY');
    expect(info.operatorPublicKey).toMatch(/^ssh-ed25519 /);
  });

  test('up() when up is a quick no-op with the same keys', async () => {
    const t0 = Date.now();
    const again = await sb.up();
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(again.hosts.slayer.hostKey).toBe(info.hosts.slayer.hostKey);
    expect((await sb.status()).healthy).toBe(true);
  });

  test('SSH with the pinned host key: each host answers with its own hostname', async () => {
    for (const h of sb.hostnames) {
      const r = await ssh(h, 'hostname; cat /etc/sounz/sounz.status');
      expect(r.stderr).not.toMatch(/Host key verification failed/);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${h}\n${h === 'slayer' ? 'production' : 'standby'}\n`);
    }
  });

  test('SSH with a swapped host key (megadeth pinned for slayer) is refused', async () => {
    const r = await ssh('slayer', 'true', 'megadeth');
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
  });

  test('isolation: a file written in /etc/sounz over SSH on slayer is not on megadeth nor on this machine', async () => {
    const name = `isolation-${process.pid}-${Date.now()}`;
    const rootHadDir = fs.existsSync('/etc/sounz');
    const w = await ssh('slayer', `echo slayer-only > /etc/sounz/${name} && cat /etc/sounz/${name}`);
    expect(w.code).toBe(0);
    expect(w.stdout).toBe('slayer-only\n');
    const m = await ssh('megadeth', `test -e /etc/sounz/${name} && echo present || echo absent`);
    expect(m.code).toBe(0);
    expect(m.stdout).toBe('absent\n');
    expect(fs.existsSync(`/etc/sounz/${name}`)).toBe(false);
    expect(fs.existsSync('/etc/sounz')).toBe(rootHadDir); // untouched (here: it does not exist at all)
    // processes are isolated too: slayer's ps does not show megadeth's processes
    const ps = await ssh('slayer', 'ps ax -o args');
    expect(ps.stdout).toContain('sounz-init-slayer');
    expect(ps.stdout).not.toContain('sounz-init-megadeth');
  });

  test("the runbook's layout is there on each host", async () => {
    for (const h of sb.hostnames) {
      const conf = await sb.execOn(h, ['cat', '/etc/sounz/sounz.conf']);
      expect(conf.stdout).toContain('IP_PRIMARY_SERVER="198.51.100.11"');
      expect(conf.stdout).toContain('IP_SECONDARY_SERVER="198.51.100.12"');
      expect(conf.stdout).toContain('MONGREL_PORTS="8000 8001 8002"');
      expect(conf.stdout).toContain('sounz_rsync_port=18993');
      expect((await sb.execOn(h, ['cat', '/etc/apollo/apollo.conf'])).stdout).toMatch(/18983/);
      const files = [
        '/var/log/sounz/sounz-app/production.log', '/var/log/apollo/apollo.log', '/var/log/sounz/apache2/sounz.org.nz-access.log',
        '/var/log/sounz/apache2/sounz.org.nz-error.log', '/var/log/sounz/sounz-general.log',
      ];
      const dirs = ['/data/sounz', '/usr/share/sounz', '/etc/cron.d', '/var/lib/apollo', '/var/lib/postgresql'];
      const t = await sb.execOn(h, ['bash', '-c', [...files.map((f) => `test -f ${f}`), ...dirs.map((x) => `mountpoint -q ${x}`)].join(' && ')]);
      expect(t).toMatchObject({ code: 0 });
      const which = await sb.execOn(h, ['bash', '-c', 'command -v rsync arping sshd cron >/dev/null && echo ok']);
      expect(which.stdout).toBe('ok\n');
    }
    const st = await sb.status();
    expect(st.healthy).toBe(true);
  });

  test('website, Apollo and the mongrels answer from the vantage point; ARP sees each host', async () => {
    expect(await sb.httpFromVantage(info.hosts.slayer.address)).toBe('slayer production\n');
    expect(await sb.httpFromVantage(info.hosts.megadeth.address)).toBe('megadeth standby\n');
    for (const h of sb.hostnames) {
      expect(await sb.httpFromVantage(info.hosts[h].address, 8983)).toMatch(/^apollo /);
      for (const p of [8000, 8001, 8002]) expect(await sb.httpFromVantage(info.hosts[h].address, p)).toMatch(new RegExp(`^mongrel ${p} ${h} `));
    }
    const log = await sb.execOn('slayer', ['cat', '/var/log/sounz/apache2/sounz.org.nz-access.log']);
    expect(log.stdout).toContain('198.51.100.2 ');
    const [a, b, none] = await Promise.all([
      sb.arpFromVantage(info.hosts.slayer.address),
      sb.arpFromVantage(info.hosts.megadeth.address),
      sb.arpFromVantage(info.serviceIp), // nobody holds the service IP yet: the sandbox does not add it
    ]);
    expect(a).toEqual([info.hosts.slayer.mac]);
    expect(b).toEqual([info.hosts.megadeth.mac]);
    expect(none).toEqual([]);
    expect(await sb.httpFromVantage(info.serviceIp, 80, 1500)).toBeNull();
  });

  test('PostgreSQL 15 on each host: database sounz over TCP (base address, 127.0.0.1) and over the socket', async () => {
    for (const h of sb.hostnames) {
      for (const target of [info.hosts[h].address, '127.0.0.1', '/var/run/postgresql']) {
        const r = await sb.execOn(h, ['runuser', '-u', 'postgres', '--', 'psql', '-h', target, 'sounz', '-Atc', 'select 1']);
        expect({ h, target, out: r.stdout, code: r.code }).toEqual({ h, target, out: '1\n', code: 0 });
      }
      const v = await sb.execOn(h, ['runuser', '-u', 'postgres', '--', 'psql', '-h', '/var/run/postgresql', 'sounz', '-Atc', 'show server_version']);
      expect(v.stdout).toMatch(/^15\./);
      // each host has its own cluster
      await sb.execOn(h, ['runuser', '-u', 'postgres', '--', 'psql', '-h', '/var/run/postgresql', 'sounz', '-c', `create table if not exists only_on_${h} (x int)`]);
    }
    const other = await sb.execOn('megadeth', ['runuser', '-u', 'postgres', '--', 'psql', '-h', '/var/run/postgresql', 'sounz', '-Atc', "select count(*) from pg_tables where tablename = 'only_on_slayer'"]);
    expect(other.stdout).toBe('0\n');
  });

  test('no route out of 198.51.100.0/24 in any namespace (and no IPv6)', async () => {
    for (const ns of ['sounz-slayer', 'sounz-megadeth', 'sounz-vantage']) {
      const get = await sh('ip', ['netns', 'exec', ns, 'ip', 'route', 'get', '192.0.2.1']);
      expect(get.code).not.toBe(0);
      expect(get.stderr).toMatch(/unreachable/i);
      const routes = (await sh('ip', ['-n', ns, '-4', 'route', 'show', 'table', 'all'])).stdout.split('\n').filter((l) => l.trim() && !/^(local|broadcast) /.test(l));
      for (const r of routes) expect(r).toMatch(/^198\.51\.100\.0\/24 dev eth0 /);
      expect((await sh('ip', ['-n', ns, '-6', 'addr', 'show'])).stdout.trim()).toBe('');
    }
    for (const h of sb.hostnames) {
      const r = await sb.execOn(h, ['ip', 'route', 'get', '192.0.2.1']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/unreachable/i);
    }
  });

  test('a stopped mongrel port shows in status(), and up() brings it back', async () => {
    const k = await sb.execOn('megadeth', ['bash', '-c', 'kill $(cat /run/sounz/mongrel.8001.pid)']);
    expect(k.code).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect((await sb.status()).hosts.megadeth.services['mongrel.8001']).toBe('down');
    expect(await sb.httpFromVantage(info.hosts.megadeth.address, 8001, 1500)).toBeNull();
    await sb.up();
    expect((await sb.status()).hosts.megadeth.services['mongrel.8001']).toBe('ok');
  });

  test(`kill slayer: SSH fails within ${SSH_CONNECT_TIMEOUT} s (not refused), megadeth still serves; revive keeps slayer's files`, async () => {
    const marker = `before-kill-${Date.now()}`;
    expect((await ssh('slayer', `echo ${marker} > /data/sounz/marker && echo ${marker} > /etc/sounz/marker`)).code).toBe(0);
    const t0 = Date.now();
    await sb.kill('slayer');
    const killMs = Date.now() - t0;
    expect(sb.hostPids('slayer')).toEqual([]);
    expect((await sh('ip', ['-n', 'sounz-slayer', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout).not.toContain('inet ');
    const r = await ssh('slayer', 'true');
    // eslint-disable-next-line no-console
    console.log(`kill took ${killMs} ms; ssh to the dead slayer failed after ${r.ms} ms: ${r.stderr.trim()}`);
    expect(r.code).toBe(255);
    expect(r.ms).toBeLessThan((SSH_CONNECT_TIMEOUT + 2) * 1000);
    expect(r.stderr).not.toMatch(/refused/i);
    expect(r.stderr).toMatch(/No route to host|timed out/i);
    expect(await sb.httpFromVantage(info.hosts.megadeth.address)).toBe('megadeth standby\n');
    expect(await sb.httpFromVantage(info.hosts.slayer.address, 80, 1500)).toBeNull();
    expect((await sb.status()).hosts.slayer.alive).toBe(false);
    await expect(sb.execOn('slayer', ['true'])).rejects.toThrow(/not running/);

    await sb.revive('slayer');
    const back = await ssh('slayer', 'hostname; cat /data/sounz/marker /etc/sounz/marker');
    expect(back.code).toBe(0);
    expect(back.stdout).toBe(`slayer\n${marker}\n${marker}\n`);
    expect(await sb.httpFromVantage(info.hosts.slayer.address)).toBe('slayer production\n');
    expect((await sb.status()).healthy).toBe(true);
    // the service IP is not brought back by revive
    expect((await sh('ip', ['-n', 'sounz-slayer', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout).not.toContain(info.serviceIp);
  });

  test('partition megadeth: cut off the bridge but still running with its addresses; heal undoes it', async () => {
    await sb.partition('megadeth');
    try {
      expect(await sb.httpFromVantage(info.hosts.megadeth.address, 80, 1500)).toBeNull();
      const inside = await sb.execOn('megadeth', ['bash', '-c', 'ip -4 -o addr show dev eth0; cat /etc/sounz/sounz.status']);
      expect(inside.stdout).toContain(`inet ${info.hosts.megadeth.address}/24`);
      expect(inside.stdout).toContain('standby');
      const st = await sb.status();
      expect(st.hosts.megadeth).toMatchObject({ alive: true, partitioned: true });
      expect(await sb.httpFromVantage(info.hosts.slayer.address)).toBe('slayer production\n');
    } finally {
      await sb.heal('megadeth');
    }
    let body: string | null = null;
    for (let i = 0; i < 10 && body === null; i++) body = await sb.httpFromVantage(info.hosts.megadeth.address, 80, 1500);
    expect(body).toBe('megadeth standby\n');
    expect((await ssh('megadeth', 'hostname')).stdout).toBe('megadeth\n');
  });

  test('up → down → up: down leaves no namespace, link, mount, process or state of the sandbox', async () => {
    const state = sb.recordedState()!;
    expect(state).toBeDefined();
    const pids = [
      ...sb.hostPids('slayer'),
      ...sb.hostPids('megadeth'),
      ...sb.hostnames.map((h) => state.hosts[h]!.holderPid!),
    ];
    expect(pids.length).toBeGreaterThan(10);
    const t0 = Date.now();
    await sb.down();
    // eslint-disable-next-line no-console
    console.log(`sandbox down: ${Date.now() - t0} ms`);
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toMatch(/sounz-/);
    const links = (await sh('ip', ['-o', 'link', 'show'])).stdout;
    expect(links).not.toMatch(/sounzbr0|vsz-/);
    for (const l of state.links) expect(links).not.toContain(`${l}:`);
    // npm test runs the other sandbox (SOUNZ_SANDBOX_SLOT) at the same time: its mounts, its namespaces'
    // folder and the root mountpoints its hosts use stay.
    const otherUp = fs.existsSync(sb.SLOT ? '/var/lib/sounz-sandbox/state.json' : '/var/lib/sounz-sandbox-1/state.json');
    const theOther = sb.SLOT ? /\/run\/netns\/sounz-|\/var\/lib\/sounz-sandbox\// : /\/run\/netns\/sounz1-|\/var\/lib\/sounz-sandbox-1\//;
    const mounts = fs.readFileSync('/proc/mounts', 'utf8');
    expect(mounts.split('\n').filter((line) => line.includes('sounz') && !theOther.test(line))).toEqual([]);
    for (const ns of state.netns) expect(mounts).not.toContain(`/run/netns/${ns}`);
    if (!runNetnsMountedBefore && !otherUp) expect(mounts).not.toContain(' /run/netns ');
    const alive = pids.filter((p) => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        return !/^\d+ \(.*\) Z/.test(stat); // a zombie awaiting its reaper is dead
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
    expect(fs.existsSync(sb.STATE_DIR)).toBe(false);
    if (!otherUp) for (const p of state.rootMountpoints) expect(fs.existsSync(p)).toBe(false);
    const st = await sb.status();
    expect(st.up).toBe(false);

    const t1 = Date.now();
    info = await sb.up();
    // eslint-disable-next-line no-console
    console.log(`sandbox up again: ${Date.now() - t1} ms`);
    fs.writeFileSync(keyFile, info.operatorPrivateKey, { mode: 0o600 });
    for (const k of Object.keys(knownHostsFor)) {
      fs.rmSync(k, { force: true });
      delete knownHostsFor[k];
    }
    expect((await sb.status()).healthy).toBe(true);
    for (const h of sb.hostnames) expect((await ssh(h, 'hostname')).stdout).toBe(`${h}\n`);
    // new sandbox, new files: slayer's earlier marker is gone, its status is the initial one
    expect((await ssh('slayer', 'cat /etc/sounz/sounz.status; test -e /etc/sounz/marker && echo marker || echo fresh')).stdout).toBe('production\nfresh\n');
  });
});
