// What a replication may never do, through the real hosts (issue 12, findings 1-7): lose owners and
// grants, fail a first copy or leave it half done, truncate a long database name onto the real one,
// destroy what the receiving host held, land part of a copy, mirror a source that did not prove itself
// or holds older data, or keep the lock after a reboot. Plus freeze, thaw and state.
import * as sandbox from '../../sandbox';
import { Engine } from '../../ops/engine';
import { sandboxStack } from '../../ops/sandboxStack';
import { REPLICATE_COMMAND } from '../../model/hostPaths';
import { keptOf } from '../../providers/replicationScript';
import { serviceChecksProvider } from '../../providers/serviceChecks';
import { closeConnections, runOverSsh } from '../../providers/ssh';

jest.setTimeout(600_000);

let info: sandbox.SandboxInfo;
let engine: Engine;

const DUMPS = '/var/backups/sounz';
const sh = (host: sandbox.HostName, command: string) => sandbox.execOn(host, ['sh', '-c', command]);
const out = async (host: sandbox.HostName, command: string) => (await sh(host, command)).stdout;
const sql = async (host: sandbox.HostName, query: string, database = 'sounz', user = 'postgres') =>
  (await sandbox.execOn(host, ['runuser', '-u', 'postgres', '--', 'psql', '-qtAX', '-U', user, '-d', database, '-c', query])).stdout.trim();
const databases = async (host: sandbox.HostName) => (await sql(host, 'select datname from pg_database order by 1', 'postgres')).split('\n');
const replicateCommand = (host: sandbox.HostName, ...args: string[]) => sandbox.execOn(host, [REPLICATE_COMMAND, ...args]);
const dumpOnSlayer = async () => expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
const pullOnMegadeth = () => replicateCommand('megadeth', 'pull-and-restore', info.hosts.slayer.address);
/** The nightly run: dump on slayer, pull on megadeth. */
const replicate = async () => { await dumpOnSlayer(); return pullOnMegadeth(); };
const generalLog = (host: sandbox.HostName) => out(host, 'cat /var/log/sounz/sounz-general.log');
const state = async (host: sandbox.HostName) =>
  Object.fromEntries((await out(host, `${REPLICATE_COMMAND} state`)).trim().split('\n').map((l) => l.split('=')));
const setGenerations = (host: sandbox.HostName, g: { served: number; data: number }) =>
  sh(host, `mkdir -p /etc/sounz/generation && echo ${g.served} >/etc/sounz/generation/served && echo ${g.data} >/etc/sounz/generation/data`);
/** Make slayer's marker vouch for whatever dump is there now (a dump that is complete but cannot be restored). */
const vouchForTheDumpOnSlayer = () => sh('slayer', `cd ${DUMPS} && sed -i "s/^DUMP_BYTES=.*/DUMP_BYTES=$(stat -c %s sounz.dump)/; ` +
  's/^DUMP_TAKEN=.*/DUMP_TAKEN=$(stat -c %Y sounz.dump)/" sounz.marker');
const breakDumpOnSlayer = async () => {
  await sh('slayer', `f=${DUMPS}/sounz.dump; head -c 300 $f >$f.cut && mv $f.cut $f`);
  await vouchForTheDumpOnSlayer();
};
/** Megadeth's data areas, index and rows, to compare before and after a run that must change nothing. */
const megadethHolds = async () => ({
  files: await out('megadeth', 'cd / && find /data/sounz /usr/share/sounz /var/lib/apollo/index -path "*/.sounz-replication" -prune -o -type f -print | sort | xargs cat'),
  rows: await sql('megadeth', 'select id, title from works order by id'),
  databases: await databases('megadeth'),
});

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  engine = await sandboxStack(info, 'replication-safety-test');
  await engine.up('NORMAL');
  // The application's own role owns the database and its table; a reporting role may only read.
  await sql('slayer', 'create role sounz_app login; create role reporter login; alter database sounz owner to sounz_app', 'postgres');
  await sql('slayer', "create table works (id int, title text); insert into works values (1, 'Symphony No. 1'); grant select on works to reporter",
    'sounz', 'sounz_app');
  await sh('slayer', 'echo score >/data/sounz/score.pdf; echo page >/usr/share/sounz/page.html; ' +
    'mkdir -p /var/lib/apollo/index && echo segment >/var/lib/apollo/index/_0.cfs');
});
afterAll(async () => {
  await closeConnections();
  await engine.dispose({ destroy: false });
  await sandbox.down();
});

test('finding 3: the first copy reaches a host without the database; a failed one leaves nothing behind', async () => {
  await sql('megadeth', 'drop database sounz', 'postgres');
  await dumpOnSlayer();
  await breakDumpOnSlayer();
  const failed = await pullOnMegadeth();
  expect(failed.code).toBe(1);
  expect(failed.stderr).toContain('kept the database in service');
  expect(await databases('megadeth')).toEqual(['postgres', 'template0', 'template1']);
  expect(await out('megadeth', `find /data/sounz /usr/share/sounz /var/lib/apollo/index ${DUMPS} -name incoming`)).toBe('');
  expect(await generalLog('megadeth')).toMatch(/nothing landed: the database sounz, \/data\/sounz, \/usr\/share\/sounz, .* are as they were/);

  const first = await replicate();
  expect(first.code).toBe(0);
  expect(await sql('megadeth', 'select title from works')).toBe('Symphony No. 1');
  expect(await databases('megadeth')).toEqual(['postgres', 'sounz', 'template0', 'template1']);
  // Nothing was there to keep but the (empty) folders.
  expect(keptOf(first.stdout).every((path) => path.startsWith('/'))).toBe(true);
});

test('finding 2: the copy keeps its owners and grants, and the post-switch check reads as the application\'s role', async () => {
  expect((await replicate()).code).toBe(0);
  expect(await sql('megadeth', "select pg_get_userbyid(datdba) from pg_database where datname = 'sounz'", 'postgres')).toBe('sounz_app');
  expect(await sql('megadeth', "select tableowner from pg_tables where tablename = 'works'")).toBe('sounz_app');
  expect(await sql('megadeth', 'select title from works', 'sounz', 'reporter')).toBe('Symphony No. 1');
  expect(await sql('megadeth', "insert into works values (9, 'by the owner') returning id", 'sounz', 'sounz_app')).toBe('9');
  await sql('megadeth', 'delete from works where id = 9');

  const { name, address, sshPort, user, hostKey } = info.hosts.megadeth;
  const checks = serviceChecksProvider(runOverSsh);
  const inputs = { host: name, address, sshPort, user, hostKey, privateKey: info.operatorPrivateKey, reason: 'test',
    serviceIp: info.serviceIp, interface: 'eth0', websitePort: 80, apolloPort: 8983, mongrelPorts: [], rsyncPorts: [], database: 'sounz',
    appRole: 'sounz_app', replicaHost: { host: name, address, sshPort, user, hostKey } };
  const database = async () => {
    const { results } = (await checks.read!('id', inputs as never)).props as { results: Record<string, string> };
    return [results['PostgreSQL database sounz over tcp'], results['PostgreSQL database sounz over socket']];
  };
  expect(await database()).toEqual(['ok', 'ok']);
  // What a restore with --no-owner left: the table is postgres's, the application cannot read it.
  await sql('megadeth', 'alter table works owner to postgres');
  expect(await database()).toEqual(['sounz_app cannot read 1 tables', 'sounz_app cannot read 1 tables']);
  await sql('megadeth', 'alter table works owner to sounz_app');
});

test('finding 4: a 60-character database name never collides with its working names', async () => {
  const long = 'sounz_'.padEnd(60, 'x');
  const conf = '/etc/sounz/replication.conf';
  await sql('slayer', `create database ${long} owner sounz_app`, 'postgres');
  await sql('slayer', "create table works (id int, title text); insert into works values (60, 'long')", long, 'sounz_app');
  for (const host of sandbox.hostnames) await sh(host, `cp ${conf} ${conf}.saved && sed -i 's/^DATABASE=.*/DATABASE=${long}/' ${conf}`);
  try {
    for (const run of [1, 2]) {
      const result = await replicate();
      expect({ run, code: result.code, stderr: result.stderr }).toEqual({ run, code: 0, stderr: '' });
      expect(await sql('megadeth', 'select title from works', long)).toBe('long');
    }
    const names = await databases('megadeth');
    expect(names.filter((n) => n.startsWith('sounz_x') && !n.includes('-'))).toEqual([long]);
    // The second run kept the first copy under a name of its own.
    expect(names.filter((n) => n.startsWith('sounz_xxxxxxxxxxxxxx-kept-'))).toHaveLength(1);
  } finally {
    for (const host of sandbox.hostnames) await sh(host, `mv ${conf}.saved ${conf}`);
  }
});

test('finding 5: a copy keeps what it replaces on the receiver, named by date, generation and sequence, and prunes it after keepDays', async () => {
  // What megadeth holds that slayer never had (a host back from RECOVERY, say).
  await setGenerations('megadeth', { served: 2, data: 2 });
  await setGenerations('slayer', { served: 3, data: 3 });
  await sql('megadeth', "insert into works values (7, 'written on megadeth only')");
  await sh('megadeth', 'echo own >/data/sounz/own.txt; echo own-segment >/var/lib/apollo/index/_9.cfs');
  const result = await replicate();
  expect(result.code).toBe(0);
  expect(await sql('megadeth', 'select id from works order by id')).toBe('1');
  expect(await out('megadeth', 'ls /data/sounz')).toBe('score.pdf\n');

  const kept = keptOf(result.stdout);
  const stamp = /^sounz-kept-(\d{8}-\d{6}-g2-n\d+)$/.exec(kept[0])?.[1];
  expect(stamp).toBeDefined();
  expect(kept.slice(1).sort()).toEqual(['/data/sounz', '/usr/share/sounz', '/var/lib/apollo/index']
    .map((dir) => `${dir}/.sounz-replication/kept/${stamp}`).sort());
  expect(await sql('megadeth', 'select title from works where id = 7', kept[0])).toBe('written on megadeth only');
  expect(await out('megadeth', `cat /data/sounz/.sounz-replication/kept/${stamp}/own.txt /var/lib/apollo/index/.sounz-replication/kept/${stamp}/_9.cfs`))
    .toBe('own\nown-segment\n');
  expect(await generalLog('megadeth')).toContain(`kept what they replaced (the newest 14 copies, for 7 days): ${kept.join(' ')}`);
  // The data here is now the source's: generation 3, a copy.
  expect(await out('megadeth', 'cat /etc/sounz/generation/data')).toBe('3\n');

  // Eight days on (the stamps say so, without a sequence number: an older script's names, the oldest),
  // the next run prunes them and keeps its own.
  await sql('megadeth', `alter database "${kept[0]}" rename to "sounz-kept-20200101-000000-g2"`, 'postgres');
  for (const dir of kept.slice(1)) await sh('megadeth', `mv ${dir} ${dir.replace(stamp!, '20200101-000000-g2')}`);
  const next = await replicate();
  expect(next.code).toBe(0);
  const keptNow = (await databases('megadeth')).filter((n) => n.startsWith('sounz-kept-'));
  expect(keptNow).toContain(keptOf(next.stdout)[0]);
  expect(keptNow).not.toContain('sounz-kept-20200101-000000-g2');
  expect(await out('megadeth', 'ls /data/sounz/.sounz-replication/kept')).not.toContain('20200101');
  // Earlier tests kept newer copies (higher sequence numbers), so it is not the newest: it goes before the run.
  expect(await generalLog('megadeth')).toContain('pruned the kept database sounz-kept-20200101-000000-g2 (before the run: older than 7 days)');
});

test('finding 6: database, data areas and index land together or not at all', async () => {
  await sh('slayer', 'echo score-v2 >/data/sounz/score.pdf; echo segment-v2 >/var/lib/apollo/index/_0.cfs');
  await sql('slayer', "insert into works values (2, 'String Quartet')", 'sounz', 'sounz_app');
  const before = await megadethHolds();

  // The restore fails after every tree was staged: nothing lands.
  await dumpOnSlayer();
  await breakDumpOnSlayer();
  expect((await pullOnMegadeth()).code).toBe(1);
  expect(await megadethHolds()).toEqual(before);

  // The last tree (the index) cannot land: the data areas that had landed go back.
  await sh('megadeth', 'rm -rf /var/lib/apollo/index/.sounz-replication/kept && touch /var/lib/apollo/index/.sounz-replication/kept');
  try {
    const result = await replicate();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('landing /var/lib/apollo/index failed');
    expect(await megadethHolds()).toEqual(before);
    expect(await generalLog('megadeth')).toMatch(/nothing landed: the database sounz, \/data\/sounz, .* are as they were\n$/);
  } finally {
    await sh('megadeth', 'rm -f /var/lib/apollo/index/.sounz-replication/kept');
  }

  const result = await replicate();
  expect(result.code).toBe(0);
  expect(await out('megadeth', 'cat /data/sounz/score.pdf /var/lib/apollo/index/_0.cfs')).toBe('score-v2\nsegment-v2\n');
  expect(await sql('megadeth', 'select id from works order by id')).toBe('1\n2');
  expect(await generalLog('megadeth')).toMatch(
    /landed together from 198\.51\.100\.11: database sounz, \/data\/sounz, \/usr\/share\/sounz, \/var\/backups\/sounz, \/var\/lib\/apollo\/index\n/);
});

test('finding 7: a source tree holding only lost+found is empty, and a source must prove itself', async () => {
  const before = await megadethHolds();
  await dumpOnSlayer();
  await sh('slayer', 'mkdir -p /tmp/away && mv /usr/share/sounz/* /tmp/away/ && mkdir /usr/share/sounz/lost+found');
  try {
    const result = await pullOnMegadeth();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('usr-share-sounz on 198.51.100.11 is empty while /usr/share/sounz here is not: not mirroring an empty tree');
    expect(await megadethHolds()).toEqual(before);
  } finally {
    await sh('slayer', 'rmdir /usr/share/sounz/lost+found && mv /tmp/away/* /usr/share/sounz/');
  }

  const marker = `${DUMPS}/sounz.marker`;
  const refusals: Array<[string, string]> = [
    [`rm ${marker}`, '198.51.100.11 has no marker of its own replication'],
    [`sed -i 's/^PAIR=.*/PAIR=anthrax\\/megadeth/' ${marker}`, "198.51.100.11's marker is for the pair anthrax/megadeth, this host is in slayer/megadeth"],
    [`sed -i 's/^HOST=.*/HOST=megadeth/' ${marker}`, "198.51.100.11's marker was written by megadeth, not by this host's partner in slayer/megadeth"],
    [`sed -i 's/^DATA=.*/DATA=$(touch \\/tmp\\/sourced)/' ${marker}`, 'is not one our replication writes'],
  ];
  for (const [tamper, reason] of refusals) {
    await dumpOnSlayer();
    await sh('slayer', tamper);
    const result = await pullOnMegadeth();
    expect({ tamper, code: result.code, stderr: result.stderr })
      .toEqual({ tamper, code: 1, stderr: expect.stringContaining(`${reason}`) });
    expect(result.stderr).toContain('refusing to copy from it (nothing changed here)');
    expect(await megadethHolds()).toEqual(before);
  }
  expect(await out('megadeth', 'ls /tmp')).not.toContain('sourced');
});

test('the rank rule: a copy never replaces newer data, and the refusal says why (exit 77)', async () => {
  const before = await megadethHolds();
  await setGenerations('megadeth', { served: 5, data: 5 });
  await setGenerations('slayer', { served: 4, data: 4 });
  let result = await replicate();
  expect(result.code).toBe(77);
  expect(result.stderr).toBe('sounz-replicate: refusing to copy older data: slayer holds generation 4 (served it) ' +
    'and this host generation 5 (served it)\n');
  expect(await megadethHolds()).toEqual(before);
  // The same lineage: the server outranks a copy, and not the other way round.
  await setGenerations('slayer', { served: 4, data: 5 });
  result = await replicate();
  expect(result.code).toBe(77);
  expect(result.stderr).toContain('slayer holds generation 5 (a copy) and this host generation 5 (served it)');
  await setGenerations('slayer', { served: 5, data: 5 });
  await setGenerations('megadeth', { served: 4, data: 5 });
  expect((await replicate()).code).toBe(0);
  expect(await out('megadeth', 'cat /etc/sounz/generation/data /etc/sounz/generation/served')).toBe('5\n4\n');
});

test('freeze makes the database read-only for the application until thaw; state answers at once', async () => {
  const s = await state('slayer');
  expect(s).toMatchObject({ status: 'production', served: '5', data: '5', frozen: 'no', database: 'present', lock: 'free' });
  expect(Number(s.database_bytes)).toBeGreaterThan(1_000_000);
  expect(Number(s.free_bytes)).toBeGreaterThan(0);

  for (const _ of [1, 2]) expect((await replicateCommand('slayer', 'freeze')).code).toBe(0);
  expect((await state('slayer')).frozen).toBe('yes');
  const write = await sandbox.execOn('slayer', ['runuser', '-u', 'postgres', '--', 'psql', '-U', 'sounz_app', '-d', 'sounz', '-c',
    "insert into works values (3, 'while frozen')"]);
  expect(write.stderr).toContain('cannot execute INSERT in a read-only transaction');
  expect(await sql('slayer', 'select count(*) from works', 'sounz', 'sounz_app')).toBe('2');
  // A frozen production still dumps (its final grab), and the copy is not frozen.
  expect((await replicate()).code).toBe(0);
  expect((await state('megadeth')).frozen).toBe('no');

  for (const _ of [1, 2]) expect((await replicateCommand('slayer', 'thaw')).code).toBe(0);
  expect((await state('slayer')).frozen).toBe('no');
  expect(await sql('slayer', "insert into works values (3, 'thawed') returning id", 'sounz', 'sounz_app')).toBe('3');
  expect(await generalLog('slayer')).toMatch(/froze sounz: read-only[^\n]*\n[\s\S]*thawed sounz: writable again[^\n]*\n[\s\S]*thaw: sounz was not frozen/);

  // A run waiting for the source's dump holds the lock; state neither waits for it nor takes it.
  await sh('slayer', `touch -d '1 day ago' ${DUMPS}/sounz.dump`);
  const waiting = pullOnMegadeth();
  try {
    // The run takes the lock once it has started (under its time bound): on two loaded cores, a while.
    for (let i = 0; i < 75 && (await state('megadeth')).lock !== 'held'; i++) await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    expect((await state('megadeth')).lock).toBe('held');
    expect(Date.now() - started).toBeLessThan(1_000);
  } finally {
    // The dump the run waits for; the run ends before the next test, whatever failed here.
    await dumpOnSlayer();
    await waiting;
  }
  expect((await waiting).code).toBe(0);
  expect((await state('megadeth')).lock).toBe('free');
  await sql('megadeth', 'drop database sounz with (force)', 'postgres');
  expect(await state('megadeth')).toMatchObject({ database: 'absent', database_bytes: '0', frozen: 'no' });
  expect((await replicate()).code).toBe(0);
});

test('finding 1: after a reboot of the source, the nightly run and the next one both succeed and the lock is free', async () => {
  await sandbox.kill('slayer');
  await sandbox.revive('slayer');
  // The first dump after the reboot starts the rsync daemons again; they must not keep its lock.
  await dumpOnSlayer();
  expect(await generalLog('slayer')).toMatch(/started the rsync daemon of \/etc\/sounz\/rsyncd-sounz\.conf again/);
  await dumpOnSlayer();
  expect((await state('slayer')).lock).toBe('free');
  expect((await pullOnMegadeth()).code).toBe(0);
  expect((await replicate()).code).toBe(0);
  for (const host of sandbox.hostnames) expect((await state(host)).lock).toBe('free');
});
