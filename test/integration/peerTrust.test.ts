// The nightly copy trusts only its peer (issue 27, item 3), through the real hosts of one sandbox
// deployment: the SOUNZ and Apollo daemons serve nothing without the pair's password, and a receiver
// copies nothing from a listener on the source's port that cannot prove it holds that password.
// Addresses come from the sandbox's info, so that the suite runs on either slot, and either kind of host.
import * as sandbox from '../../sandbox';
import { Engine } from '../../ops/engine';
import { sandboxStack } from '../../ops/sandboxStack';
import { REPLICATE_COMMAND } from '../../model/hostPaths';
import { PEER_USER } from '../../model/peerTrust';
import { escaped, sh, sql, stopRsyncDaemon } from '../support/hosts';

jest.setTimeout(600_000);

let info: sandbox.SandboxInfo;
let engine: Engine;
let sounzPort: string;
let apolloPort: string;

const DUMPS_MODULE = 'var-backups-sounz';
const IMPOSTOR = '/tmp/impostor';
const replicateCommand = (host: sandbox.HostName, ...args: string[]) => sandbox.execOn(host, [REPLICATE_COMMAND, ...args], { timeoutMs: 300_000 });
const pullOnMegadeth = () => replicateCommand('megadeth', 'pull-and-restore', info.hosts.slayer.address);
const lastLogLine = (host: sandbox.HostName) => sh(host, 'tail -n 1 /var/log/sounz/sounz-general.log');
const works = () => sql('megadeth', 'select id from works order by id');
const portOf = (daemon: string) => sh('slayer', `sed -n 's/^port = //p' /etc/sounz/rsyncd-${daemon}.conf`);
/** Until nothing (or something) listens on slayer's SOUNZ port. */
async function untilListening(wanted: boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await sh('slayer', `ss -Hltn 'sport = :${sounzPort}'`) !== '') === wanted) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`slayer's port ${sounzPort}: still ${wanted ? 'free' : 'held'}`);
}
/** What megadeth's receiver has landed: its stamp, its databases and its rows. */
const landed = async () => ({
  stamp: await sh('megadeth', 'cat /etc/sounz/last-replication'),
  databases: await sh('megadeth', 'runuser -u postgres -- psql -qtAX -d postgres -c "select datname from pg_database order by 1"'),
  rows: await works(),
});

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  engine = await sandboxStack(info, 'peer-trust-test');
  await engine.up('NORMAL');
  [sounzPort, apolloPort] = [await portOf('sounz'), await portOf('apollo')];
  await sql('slayer', "create table works (id int, title text); insert into works values (1, 'Symphony No. 1')");
  // With the pair's password, from the program's root-only file, the copy works as before.
  expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
  expect((await pullOnMegadeth()).code).toBe(0);
  expect(await works()).toBe('1');
});
afterAll(async () => {
  await engine?.dispose({ destroy: false });
  await sandbox.down();
});

test('a plain rsync client without the password reads nothing from the daemons: no module list, no listing, no file', async () => {
  const slayer = info.hosts.slayer.address;
  for (const port of [sounzPort, apolloPort]) {
    // megadeth is the address the daemons allow; the module names are listed to nobody.
    const list = await sandbox.execOn('megadeth', ['rsync', '--contimeout=5', `rsync://${slayer}:${port}/`]);
    expect(list.code).toBe(0);
    expect(list.stdout.trim()).toBe('');
  }
  const attempts = [
    // No user and no password (no terminal to ask one on), the pair's user with a wrong one.
    ['rsync', '--list-only', `rsync://${slayer}:${sounzPort}/${DUMPS_MODULE}/`],
    ['env', 'RSYNC_PASSWORD=guessed', 'rsync', '--list-only', `rsync://${PEER_USER}@${slayer}:${sounzPort}/${DUMPS_MODULE}/`],
    ['env', 'RSYNC_PASSWORD=guessed', 'rsync', `rsync://${PEER_USER}@${slayer}:${sounzPort}/${DUMPS_MODULE}/sounz.roles.sql`, '/tmp/stolen'],
    ['env', 'RSYNC_PASSWORD=guessed', 'rsync', `rsync://${PEER_USER}@${slayer}:${sounzPort}/sounz-proof/token`, '/tmp/stolen'],
    ['env', 'RSYNC_PASSWORD=guessed', 'rsync', '--list-only', `rsync://${PEER_USER}@${slayer}:${sounzPort}/generation/`],
    ['env', 'RSYNC_PASSWORD=guessed', 'rsync', '-r', `rsync://${PEER_USER}@${slayer}:${apolloPort}/index/`, '/tmp/stolen-index/'],
  ];
  for (const argv of attempts) {
    const result = await sandbox.execOn('megadeth', ['setsid', '-w', ...argv], { timeoutMs: 30_000 });
    expect({ argv, code: result.code }).toEqual({ argv, code: 5 });
    expect(result.stdout + result.stderr).toMatch(/@ERROR: auth failed on module/);
    expect(result.stdout + result.stderr).not.toMatch(/sounz\.dump|sounz\.roles|served|token/);
  }
  expect(await sh('megadeth', 'ls -d /tmp/stolen /tmp/stolen-index 2>&1 || true')).not.toMatch(/^\/tmp\/stolen/m);
  expect(await sh('slayer', `grep -c 'auth failed on module' /var/log/sounz/sounz-general.log`)).not.toBe('0');
});

test('a listener other than the SOUNZ daemon on its port: the copy refuses it and says why, nothing lands; the next dump takes the port back', async () => {
  await sql('slayer', "insert into works values (2, 'only on slayer')");
  expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
  const before = await landed();

  // Our daemon stopped (as after a reboot, before the first dump); a plain one of its own, without
  // the password, serves the real dump folder on the port, then a forged proof token too.
  await stopRsyncDaemon('slayer', 'sounz');
  await untilListening(false);
  const config = (proof: boolean) => [
    `pid file = ${IMPOSTOR}/rsyncd.pid`, `port = ${sounzPort}`, 'use chroot = no', 'uid = root', 'gid = root',
    `log file = ${IMPOSTOR}/rsyncd.log`, `[${DUMPS_MODULE}]`, '    path = /var/backups/sounz',
    ...(proof ? ['[sounz-proof]', `    path = ${IMPOSTOR}/proof`] : []), ''].join('\n');
  await sh('slayer', `mkdir -p ${IMPOSTOR}/proof && echo forged >${IMPOSTOR}/proof/token && cat >${IMPOSTOR}/rsyncd.conf <<'EOF'\n${config(false)}EOF`);
  await sh('slayer', `rsync --daemon --config=${IMPOSTOR}/rsyncd.conf </dev/null >/dev/null 2>&1`);
  await untilListening(true);
  const refused = new RegExp(`^sounz-replicate: what answers on ${escaped(info.hosts.slayer.address)} port ${sounzPort} is not the SOUNZ rsync daemon of this pair ` +
    `\\(no proof of the pair's password: (.*)\\): refusing to copy from it \\(nothing changed here\\)$`, 'm');
  try {
    const unknown = await pullOnMegadeth();
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(refused);
    expect(unknown.stderr.match(refused)![1]).toMatch(/Unknown module 'sounz-proof'/);
    expect(await landed()).toEqual(before);

    // rsyncd reads its config at every connection.
    await sh('slayer', `cat >${IMPOSTOR}/rsyncd.conf <<'EOF'\n${config(true)}EOF`);
    const forged = await pullOnMegadeth();
    expect(forged.code).toBe(1);
    expect(forged.stderr.match(refused)?.[1]).toBe('it serves another token');
    expect(await lastLogLine('megadeth')).toMatch(/FAILED: what answers on .* is not the SOUNZ rsync daemon of this pair/);
    expect(await landed()).toEqual(before);
    expect(await sh('megadeth', 'ls -A /data/sounz/.sounz-replication 2>/dev/null | grep -x incoming || true')).toBe('');

    // The source's own restart of its daemon does not count one that could not take the port as started.
    const dump = await replicateCommand('slayer', 'dump');
    expect(dump.code).toBe(1);
    expect(dump.stderr).toMatch(new RegExp(`the rsync daemon of /etc/sounz/rsyncd-sounz.conf does not hold port ${sounzPort} within 5 s \\(listening there: users:\\(\\("rsync",pid=`));
  } finally {
    // A namespace host's stale pidfile would keep the next dump from starting the daemon.
    await sh('slayer', `kill "$(cat ${IMPOSTOR}/rsyncd.pid)"; rm -f /run/sounz/rsyncd-sounz.pid`);
  }
  await untilListening(false);

  // Once the port is free, the next dump starts our daemon again, and the copy lands.
  expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
  expect(await sh('slayer', 'grep "started the rsync daemon of /etc/sounz/rsyncd-sounz.conf again" /var/log/sounz/sounz-general.log | wc -l')).not.toBe('0');
  expect((await pullOnMegadeth()).code).toBe(0);
  expect(await works()).toBe('1\n2');
});
