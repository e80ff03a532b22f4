// The nightly copy's edges (issue 27), through the real hosts of one sandbox deployment: a run bounded
// in time whatever holds it up, and a copy that never lands on a host that serves, whether the host's
// status changed under the run or a promotion (EMERGENCY) ended it.
import { readFileSync } from 'fs';
import { join } from 'path';
import * as sandbox from '../../sandbox';
import { Engine } from '../../ops/engine';
import { sandboxStack } from '../../ops/sandboxStack';
import { aloneOn, NORMAL, RECOVERY } from '../../model/pairs';
import { REPLICATE_COMMAND } from '../../model/hostPaths';
import { holders, sh, sql } from '../support/hosts';

jest.setTimeout(600_000);

let info: sandbox.SandboxInfo;
let engine: Engine;

const CONF = '/etc/sounz/replication.conf';
const DUMPS = '/var/backups/sounz';
// Bounded well beyond a run here (the EMERGENCY of the last case runs while its pull waits).
const replicateCommand = (host: sandbox.HostName, ...args: string[]) => sandbox.execOn(host, [REPLICATE_COMMAND, ...args], { timeoutMs: 300_000 });
const pullOnMegadeth = () => replicateCommand('megadeth', 'pull-and-restore', info.hosts.slayer.address);
const lastLogLine = async (host: sandbox.HostName) => (await sh(host, 'tail -n 1 /var/log/sounz/sounz-general.log'));
const lockOf = async (host: sandbox.HostName) => (await sh(host, `${REPLICATE_COMMAND} state | sed -n 's/^lock=//p'`));
const databases = async (host: sandbox.HostName) =>
  (await sh(host, 'runuser -u postgres -- psql -qtAX -d postgres -c "select datname from pg_database order by 1"')).split('\n');
/** What `command` prints on the host, once it prints something (polled every 50 ms); `missing` names it otherwise. */
async function once(host: sandbox.HostName, command: string, missing: string, withinMs = 60_000): Promise<string> {
  const end = Date.now() + withinMs;
  while (Date.now() < end) {
    const out = await sh(host, command);
    if (out) return out;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${missing} on ${host} within ${withinMs} ms`);
}
/** The pid of a process named `name` on the host, once it runs (polled: the test pauses it as it starts). */
const pidOf = (host: sandbox.HostName, name: string) => once(host, `pgrep -x ${name} | head -n 1`, `no ${name}`);
/** Run `body` with extra settings in the host's replication.conf, then put the file back. */
async function withSettings<T>(host: sandbox.HostName, settings: string, body: () => Promise<T>): Promise<T> {
  await sh(host, `cp ${CONF} ${CONF}.saved && printf '%s\\n' '${settings}' >>${CONF}`);
  try { return await body(); } finally { await sh(host, `mv ${CONF}.saved ${CONF}`); }
}

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  engine = await sandboxStack(info, 'nightly-copy-test');
  await engine.up('NORMAL');
  // Large enough that its restore runs for a few seconds, to be caught in the act.
  await sql('slayer', "create table works (id int, title text); insert into works values (1, 'Symphony No. 1'); " +
    'create table big as select g, md5(g::text) as h from generate_series(1, 1500000) g');
  expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
  expect((await pullOnMegadeth()).code).toBe(0);
});
afterAll(async () => {
  await engine?.dispose({ destroy: false });
  await sandbox.down();
});

test('bounded in time: a lock held on the source ends the dump within its lock wait, and a run its bound; each says why', async () => {
  // A session holds ACCESS EXCLUSIVE on a table for a minute.
  const holder = sandbox.execOn('slayer', ['runuser', '-u', 'postgres', '--', 'psql', '-qtAX', '-d', 'sounz', '-c',
    'begin; lock table works in access exclusive mode; select pg_sleep(60); commit']);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const dump = await withSettings('slayer', 'LOCK_WAIT_SECONDS=3', async () => {
    const started = Date.now();
    const result = await replicateCommand('slayer', 'dump');
    return { ...result, ms: Date.now() - started };
  });
  expect(dump.code).toBe(1);
  expect(dump.ms).toBeLessThan(20_000);
  expect(dump.stderr).toMatch(/pg_dump of sounz: .*timeout \(a table stayed locked beyond the lock wait of 3 s\)$/m);
  expect(await lastLogLine('slayer')).toMatch(/FAILED: pg_dump of sounz: .*timeout \(a table stayed locked beyond the lock wait of 3 s\)$/);
  expect(await lockOf('slayer')).toBe('free');
  await sql('slayer', "select pg_terminate_backend(pid) from pg_stat_activity where query like '%pg_sleep(60)%' and pid <> pg_backend_pid()");
  await holder;

  // No fresh dump on slayer: the pull waits for one, until its bound of 5 s ends it.
  await sh('slayer', `touch -d '1 day ago' ${DUMPS}/sounz.dump`);
  const pull = await withSettings('megadeth', 'RUN_BOUND_SECONDS=5', async () => {
    const started = Date.now();
    const result = await pullOnMegadeth();
    return { ...result, ms: Date.now() - started };
  });
  expect(pull.code).toBe(124);
  expect(pull.ms).toBeLessThan(15_000);
  expect(await lastLogLine('megadeth')).toMatch(/nothing landed: the database sounz, .* are as they were \(the run was stopped: its bound of 5 s ran out\)$/);
  expect(await lockOf('megadeth')).toBe('free');
  expect(await sh('megadeth', 'stat -c %a /run/sounz-standby')).toBe('700');
});

test('a run whose host began to serve while it restored gives up before landing and puts everything back', async () => {
  expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
  await sql('megadeth', "insert into works values (2, 'only on megadeth')");
  const running = pullOnMegadeth();
  await pidOf('megadeth', 'pg_restore');
  await sh('megadeth', 'cp /etc/sounz/sounz.status /tmp/status.saved && echo production_alone >/etc/sounz/sounz.status');
  try {
    const result = await running;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("this host's status is now production_alone: a copy never lands on a host that serves");
  } finally {
    await sh('megadeth', 'mv /tmp/status.saved /etc/sounz/sounz.status');
  }
  expect(await sql('megadeth', 'select id from works order by id')).toBe('1\n2');
  expect(await databases('megadeth')).not.toContain('sounz-incoming');
  expect(await lastLogLine('megadeth')).toMatch(/nothing landed: the database sounz, .* are as they were$/);
});

test('a roles file with a psql command in it is refused before psql reads it: nothing runs, nothing changes', async () => {
  expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
  const rows = await sql('megadeth', 'select id from works order by id');
  // A forged line inside pg_dumpall's restricted part, as a listener other than our daemon could serve.
  await sh('slayer', String.raw`f=${DUMPS}/sounz.roles.sql; awk '{ print } /^\\restrict / { print "\\! touch /tmp/forged" }' $f >$f.new && mv $f.new $f`);
  expect(await sh('slayer', `grep -c '^\\\\! touch' ${DUMPS}/sounz.roles.sql`)).toBe('1');
  const result = await pullOnMegadeth();
  expect(result.code).toBe(1);
  expect(result.stderr).toContain("the roles from 198.51.100.");
  expect(result.stderr).toContain("are not in pg_dumpall's form");
  expect(await sh('megadeth', 'ls /tmp/forged 2>&1')).toContain('No such file');
  expect(await sql('megadeth', 'select id from works order by id')).toBe(rows);
  expect(await databases('megadeth')).not.toContain('sounz-incoming');
  expect(await lastLogLine('megadeth')).toMatch(/nothing landed: the database sounz, .* are as they were$/);
});

test('TERM during a landing: before the landing the receiver is exactly as before, within it exactly the new copy', async () => {
  const DATA = '/data/sounz';
  await sh('slayer', `mkdir -p ${DATA} && for i in $(seq 10); do echo $i >${DATA}/work-$i; done`);
  await sql('slayer', "insert into works values (4, 'new on slayer')");
  const listing = (host: sandbox.HostName) => sh(host, `cd ${DATA} && find . -path ./.sounz-replication -prune -o -type f -print | sort | xargs cat | md5sum`);
  const works = (host: sandbox.HostName) => sql(host, 'select id, title from works order by id');
  const stopRun = () => replicateCommand('megadeth', 'stop-runs', 'the test stopped it');

  // 1: while the dump restores, nothing has moved yet: all put back.
  expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
  const before = { files: await listing('megadeth'), rows: await works('megadeth') };
  const first = pullOnMegadeth();
  await pidOf('megadeth', 'pg_restore');
  expect((await stopRun()).stdout.trim()).toMatch(/^stopped the replication run \d+$/);
  expect((await first).code).not.toBe(0);
  expect({ files: await listing('megadeth'), rows: await works('megadeth') }).toEqual(before);
  expect(await databases('megadeth')).not.toContain('sounz-incoming');
  // The run's last line, then stop-runs' own.
  expect(await sh('megadeth', 'tail -n 2 /var/log/sounz/sounz-general.log')).toMatch(
    /nothing landed: the database sounz, .* are as they were \(the run was stopped: the test stopped it\)\n.*the replication run \d+ ended$/);
  expect(await lockOf('megadeth')).toBe('free');

  // 2: stopped while paused within the landing (fixtures/landing-pause.sh, as the first mv on PATH: a
  // tmpfs on /usr/local/sbin, empty on both kinds of host, and only megadeth's: a namespace host shares the
  // machine's /usr), then resumed: the landing runs to its end, and the copy is whole.
  const pause = '/usr/local/sbin';
  const install = await sandbox.execOn('megadeth', ['sh', '-c', `mount -t tmpfs -o size=1m,mode=0755 landing-pause ${pause} && cat >${pause}/mv && chmod 0755 ${pause}/mv`],
    { input: readFileSync(join(__dirname, 'fixtures', 'landing-pause.sh'), 'utf8') });
  expect(install).toMatchObject({ code: 0 });
  let second: ReturnType<typeof pullOnMegadeth> | undefined;
  try {
    second = pullOnMegadeth();
    await once('megadeth', `ls ${pause}/paused 2>/dev/null; true`, 'no landing paused', 120_000);
    const stopped = stopRun();
    // Its TERM (and CONT) sent, stop-runs waits for the run's put-back on the lock.
    await once('megadeth', "pgrep -xf 'flock -w [0-9]+ 9'", 'no stop-runs waiting for the run');
    await sh('megadeth', `touch ${pause}/go`);
    const [, run] = /^stopped the replication run (\d+)$/.exec((await stopped).stdout.trim()) ?? [];
    expect(run).toBeDefined();
    expect((await second).code).toBe(0);
    // The TERM came within the landing: stop-runs said so before the run logged its landing.
    expect(await sh('megadeth', 'cat /var/log/sounz/sounz-general.log')).toMatch(
      new RegExp(`stopping the replication run ${run}: the test stopped it\n(.*\n)*.*replication\\[${run}\\]: landed together from`));
  } finally {
    await sh('megadeth', `touch ${pause}/go`);
    await second;
    expect(await sandbox.execOn('megadeth', ['umount', pause])).toMatchObject({ code: 0 });
  }
  expect(await listing('megadeth')).toBe(await listing('slayer'));
  expect(await listing('megadeth')).not.toBe(before.files);
  expect(await works('megadeth')).toBe(await works('slayer'));
  expect(await sh('megadeth', 'cat /var/log/sounz/sounz-general.log')).toMatch(/replication from 198\.51\.100\.\d+ complete/);
  expect(await lockOf('megadeth')).toBe('free');
});

test('the copy carries the database as a whole: its own settings, its roles\' settings in it and its grants', async () => {
  await sql('slayer', "create role app_role; alter role app_role in database sounz set work_mem to '8MB'; alter database sounz set search_path to app, public");
  await sql('slayer', 'grant connect, temporary on database sounz to app_role');
  const grants = (host: sandbox.HostName) => sql(host, "select datacl::text from pg_database where datname = 'sounz'");
  expect(await grants('megadeth')).not.toContain('app_role');
  const settings = (host: sandbox.HostName) => sql(host, "select coalesce(r.rolname, '-') || ' ' || array_to_string(s.setconfig, ',') " +
    "from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase left join pg_roles r on r.oid = s.setrole where d.datname = 'sounz' order by 1");
  expect(await settings('megadeth')).toBe('');
  expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
  expect((await pullOnMegadeth()).code).toBe(0);
  expect(await settings('megadeth')).toBe('- search_path=app, public\napp_role work_mem=8MB');
  expect(await settings('megadeth')).toBe(await settings('slayer'));
  expect(await grants('megadeth')).toContain('app_role=Tc/postgres');
  expect(await grants('megadeth')).toBe(await grants('slayer'));
});

/** Megadeth's kept copies: the stamps of its kept databases, and of each tree's kept folder. */
const TREES = ['/data/sounz', '/usr/share/sounz', '/var/lib/apollo/index'];
async function keptOnMegadeth() {
  const stamps = (await databases('megadeth')).filter((n) => n.startsWith('sounz-kept-')).map((n) => n.slice('sounz-kept-'.length));
  const trees = await Promise.all(TREES.map((t) => sh('megadeth', `ls ${t}/.sounz-replication/kept 2>/dev/null; true`)));
  return { databases: stamps.sort(), trees: trees.map((t) => t.split('\n').filter(Boolean).sort()) };
}
const dumpAndPull = async () => {
  expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
  return pullOnMegadeth();
};

test('bounded in disk by count: the newest KEEP_COPIES stay, in the order they were kept whatever their dates say', async () => {
  await withSettings('megadeth', 'KEEP_COPIES=2', async () => {
    const pulled = await dumpAndPull();
    expect(pulled.code).toBe(0);
    const kept = await keptOnMegadeth();
    expect(kept.databases).toHaveLength(2);
    expect(kept.trees).toEqual(TREES.map(() => kept.databases));
    // Earlier tests kept more: the run pruned them, and said why.
    expect(await sh('megadeth', 'cat /var/log/sounz/sounz-general.log')).toMatch(/pruned the kept database sounz-kept-\S+ \(after the run: beyond the newest 2\)/);

    // The clock was ahead when the newest was kept (its name says 2099), and is right again now.
    const [older, newest] = kept.databases.sort((x, y) => Number(x.split('-n')[1]) - Number(y.split('-n')[1]));
    const ahead = newest.replace(/^\d{8}-\d{6}/, '20991231-235959');
    await sql('megadeth', `alter database \\"sounz-kept-${newest}\\" rename to \\"sounz-kept-${ahead}\\"`);
    for (const t of TREES) await sh('megadeth', `mv ${t}/.sounz-replication/kept/${newest} ${t}/.sounz-replication/kept/${ahead}`);
    const next = await dumpAndPull();
    expect(next.code).toBe(0);
    const made = /^kept: sounz-kept-(\S+)/m.exec(next.stdout)![1];
    expect(Number(made.split('-n')[1])).toBe(Number(newest.split('-n')[1]) + 1);
    const now = await keptOnMegadeth();
    // The copy kept a moment ago and the one dated 2099 stay; the one kept before them goes.
    expect(now.databases).toEqual([ahead, made].sort());
    expect(now.trees).toEqual(TREES.map(() => now.databases));
    expect(await sh('megadeth', 'cat /var/log/sounz/sounz-general.log')).toContain(`pruned the kept database sounz-kept-${older} (after the run: beyond the newest 2)`);
  });
});

test('bounded in disk by free space: a data area without room for the copy refuses it before anything is staged, naming its filesystem', async () => {
  // A 4 MB tmpfs on megadeth's /usr/share/sounz (what it held copied in, kept copies too, which go
  // first when room is short); slayer's holds 16 MB more.
  await sh('slayer', 'head -c 16M /dev/urandom >/usr/share/sounz/big.bin');
  await sh('megadeth', 'mkdir -p /tmp/usr-share-sounz && cp -a /usr/share/sounz/. /tmp/usr-share-sounz/ && ' +
    'mount -t tmpfs -o size=4m tmpfs /usr/share/sounz && cp -a /tmp/usr-share-sounz/. /usr/share/sounz/');
  try {
    const before = await sh('megadeth', 'ls -A /usr/share/sounz');
    const rows = await sql('megadeth', 'select id from works order by id');
    expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
    const refused = await withSettings('megadeth', 'FREE_FLOOR_MB=0', pullOnMegadeth);
    expect(refused.code).toBe(73);
    const [, free, needed] = /the filesystem at \/usr\/share\/sounz \(for \/usr\/share\/sounz\) has (\d+) bytes free; this run needs (\d+) bytes there/.exec(refused.stderr) ?? [];
    expect(Number(needed)).toBeGreaterThan(16 << 20);
    expect(Number(free)).toBeLessThan(4 << 20);
    expect(await lastLogLine('megadeth')).toMatch(/REFUSED: the filesystem at \/usr\/share\/sounz .* refusing to start \(nothing changed here\)$/);
    expect(await sh('megadeth', 'ls -A /usr/share/sounz')).toBe(before);
    expect(await sh('megadeth', 'ls -A /usr/share/sounz/.sounz-replication')).not.toContain('incoming');
    expect(await sql('megadeth', 'select id from works order by id')).toBe(rows);
    expect(await databases('megadeth')).not.toContain('sounz-incoming');
    expect(await lockOf('megadeth')).toBe('free');
  } finally {
    await sh('megadeth', 'umount /usr/share/sounz; rm -rf /tmp/usr-share-sounz');
    await sh('slayer', 'rm -f /usr/share/sounz/big.bin');
  }
});

test('bounded in disk by the floor: the run prunes kept copies first, then refuses for the filesystems still under it; so does a dump', async () => {
  expect((await keptOnMegadeth()).databases.length).toBeGreaterThan(0);
  const rows = await sql('megadeth', 'select id from works order by id');
  // A floor of a terabyte: more than any filesystem here has free.
  const refused = await withSettings('megadeth', 'FREE_FLOOR_MB=1048576', pullOnMegadeth);
  expect(refused.code).toBe(73);
  expect(refused.stderr).toMatch(/the filesystem at \/\S* \(for .*\) has \d+ bytes free; this run needs \d+ bytes there and leaves the floor of 1048576 MB \(FREE_FLOOR_MB\): refusing to start/);
  // Every kept copy went before the run (the floor is beyond reach on every filesystem), and the log says why.
  expect(await keptOnMegadeth()).toEqual({ databases: [], trees: TREES.map(() => []) });
  expect(await sh('megadeth', 'cat /var/log/sounz/sounz-general.log')).toMatch(
    /pruned the kept database sounz-kept-\S+ \(before the run: \/\S* had \d+ bytes free, under the floor of 1048576 MB\)/);
  expect(await sql('megadeth', 'select id from works order by id')).toBe(rows);
  expect(await databases('megadeth')).not.toContain('sounz-incoming');

  const dump = await withSettings('slayer', 'FREE_FLOOR_MB=1048576', () => replicateCommand('slayer', 'dump'));
  expect(dump.code).toBe(73);
  expect(dump.stderr).toMatch(/the filesystem at \/\S* \(for \/var\/backups\/sounz\) has \d+ bytes free; this run needs \d+ bytes there/);
  expect(await sh('slayer', `ls ${DUMPS}`)).not.toContain('partial');
});

test('a full PostgreSQL filesystem on the receiver: the preflight refuses a switchover naming it, and the next run prunes its kept database first, then lands', async () => {
  expect((await dumpAndPull()).code).toBe(0);
  expect((await keptOnMegadeth()).databases.length).toBeGreaterThan(0);
  const databaseBytes = Number(await sh('slayer', 'runuser -u postgres -- psql -qtAX -c "select pg_database_size(\'sounz\')"'));
  // megadeth's data directory moved onto a tmpfs with half slayer's database free; its WAL stays on
  // the disk (a symlink, as PostgreSQL allows), so the restore's WAL cannot fill it.
  const data = '/var/lib/postgresql/15/main';
  const used = Number(await sh('megadeth', `du -sb --exclude=pg_wal ${data} | cut -f1`));
  await sandbox.stopService('megadeth', 'postgresql');
  expect(await sandbox.execOn('megadeth', ['sh', '-c', `mv ${data} ${data}.disk && mkdir ${data} && ` +
    `mount -t tmpfs -o size=${Math.ceil((used + databaseBytes / 2) / 1048576)}m,mode=0700,uid=$(id -u postgres),gid=$(id -g postgres) pg-full ${data} && ` +
    `tar -C ${data}.disk --exclude=./pg_wal -cf - . | tar -C ${data} -xpf - && ln -s ${data}.disk/pg_wal ${data}/pg_wal`])).toMatchObject({ code: 0 });
  try {
    await sandbox.up();
    const rows = await sql('megadeth', 'select id from works order by id');
    await engine.setStatuses(RECOVERY);
    const failure = await engine.up('switchover onto a full PostgreSQL filesystem').then(() => undefined, (e: Error) => e);
    expect(failure?.message).toMatch(new RegExp(`Refused: preflight: the final data grab from the primary to the secondary cannot run: ` +
      `the secondary has \\d+ bytes free on PostgreSQL's filesystem for the restore, the database on the primary takes \\d+`));
    expect(await holders(info.serviceIp)).toEqual(['slayer']);
    expect(await sh('slayer', 'cat /etc/sounz/sounz.status')).toBe('production');
    expect(await sh('megadeth', 'cat /etc/sounz/sounz.status')).toBe('standby');
    await engine.setStatuses(NORMAL);

    const pulled = await withSettings('megadeth', 'FREE_FLOOR_MB=0', dumpAndPull);
    expect(pulled).toMatchObject({ code: 0 });
    expect(await sh('megadeth', 'cat /var/log/sounz/sounz-general.log')).toMatch(new RegExp(
      `pruned the kept database sounz-kept-\\S+ \\(before the run: ${data} had \\d+ bytes free, under the \\d+ bytes the run needs there`));
    expect(await sql('megadeth', 'select id from works order by id')).toBe(rows);
  } finally {
    await sandbox.stopService('megadeth', 'postgresql');
    // Back onto the disk as the tmpfs holds it (what the run pruned stays pruned), its WAL put back.
    await sh('megadeth', `rm ${data}/pg_wal && mkdir ${data}.new && tar -C ${data} -cf - . | tar -C ${data}.new -xpf - && ` +
      `umount ${data} && rmdir ${data} && mv ${data}.disk/pg_wal ${data}.new/ && rm -rf ${data}.disk && mv ${data}.new ${data}`);
    await sandbox.up();
  }
  expect(await sh('megadeth', `df -P ${data} | awk 'NR == 2 { print $1 }'`)).not.toBe('pg-full');
});

test('a promotion ends the restore in progress: restore paused, slayer killed, EMERGENCY, resumed: the live row stays, the run is gone, the lock free', async () => {
  expect((await replicateCommand('slayer', 'dump')).code).toBe(0);
  const rows = await sql('megadeth', 'select id from works order by id');
  // Paused as its restore starts (fixtures/restore-pause.sh, the first pg_restore on PATH: a tmpfs on
  // /usr/local/sbin, megadeth's only, writable by postgres for the pause's marks).
  const pause = '/usr/local/sbin';
  const install = await sandbox.execOn('megadeth', ['sh', '-c', `mount -t tmpfs -o size=1m,mode=1777 restore-pause ${pause} && cat >${pause}/pg_restore && chmod 0755 ${pause}/pg_restore`],
    { input: readFileSync(join(__dirname, 'fixtures', 'restore-pause.sh'), 'utf8') });
  expect(install).toMatchObject({ code: 0 });
  let running: ReturnType<typeof pullOnMegadeth> | undefined;
  try {
    running = pullOnMegadeth();
    await once('megadeth', `ls ${pause}/paused 2>/dev/null; true`, 'no restore paused', 120_000);
    await sandbox.kill('slayer');
    await engine.setStatuses(aloneOn('secondary'));
    await engine.up('EMERGENCY: slayer died while megadeth restored');
    expect(await holders(info.serviceIp)).toEqual(['megadeth']);
    await sql('megadeth', "insert into works values (3, 'written during the emergency')");
  } finally {
    await sh('megadeth', `touch ${pause}/go`);
    await running;
    expect(await sandbox.execOn('megadeth', ['umount', pause])).toMatchObject({ code: 0 });
  }
  const result = await running!;
  expect(result.code).not.toBe(0);
  expect(await sh('megadeth', 'pgrep -x pg_restore; pgrep -f "sounz-replicat[e] pull-and-restore"; true')).toBe('');
  expect(await lockOf('megadeth')).toBe('free');
  expect(await sql('megadeth', 'select id from works order by id')).toBe([...rows.split('\n'), '3'].sort((x, y) => Number(x) - Number(y)).join('\n'));
  expect(await databases('megadeth')).not.toContain('sounz-incoming');
  expect(await sh('megadeth', 'cat /var/log/sounz/sounz-general.log')).toMatch(
    /nothing landed: the database sounz, .* are as they were \(the run was stopped: this host is claiming the service IP\)/);
});
