// The replication the program installs (replication/sounz-replicate, the cron files, the rsync
// daemons) moving real data between the sandbox hosts: PostgreSQL rows, the data areas and the
// Apollo index; a corrupt dump, a dead production, two runs at once; and what an EMERGENCY keeps.
import { execFile } from 'child_process';
import { join } from 'path';
import { promisify } from 'util';
import * as sandbox from '../../sandbox';
import { Engine } from '../../ops/engine';
import { appliedPair, replicateNow, stackConfigOf } from '../../ops/replicateNow';
import { sandboxStack } from '../../ops/sandboxStack';
import { StackConfig } from '../../model';
import { REPLICATE_COMMAND } from '../../model/hostPaths';

jest.setTimeout(600_000);

let info: sandbox.SandboxInfo;
let engine: Engine;
let config: StackConfig;

const sql = async (host: sandbox.HostName, query: string) =>
  (await sandbox.execOn(host, ['runuser', '-u', 'postgres', '--', 'psql', '-qtA', '-d', 'sounz', '-c', query])).stdout.trim();
const sh = (host: sandbox.HostName, command: string) => sandbox.execOn(host, ['sh', '-c', command]);
const pullOnMegadeth = () => sandbox.execOn('megadeth', [REPLICATE_COMMAND, 'pull-and-restore', info.hosts.slayer.address]);
const generalLog = async (host: sandbox.HostName) => (await sh(host, 'cat /var/log/sounz/sounz-general.log')).stdout;

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  engine = await sandboxStack(info, 'replication-test');
  await engine.up('NORMAL');
  config = await stackConfigOf(engine);
  await sql('slayer', 'create table works (id int, title text)');
});
afterAll(async () => {
  await engine.dispose({ destroy: false });
  await sandbox.down();
});

test('the program installs the cron jobs that run the replication command on each side', async () => {
  expect((await sh('slayer', 'cat /etc/cron.d/sounz-replication')).stdout)
    .toContain(`30 2 * * * root ${REPLICATE_COMMAND} dump >>/var/log/sounz/sounz-general.log 2>&1`);
  expect((await sh('megadeth', 'cat /etc/cron.d/sounz-replication')).stdout)
    .toContain(`30 2 * * * root ${REPLICATE_COMMAND} pull-and-restore ${info.hosts.slayer.address} >>`);
  for (const host of sandbox.hostnames) {
    expect((await sh(host, `test -x ${REPLICATE_COMMAND} && cat /etc/sounz/replication.conf`)).stdout).toContain('DATABASE=sounz');
  }
});

test('rows and files written on production are on the standby after one run of "replicate now"', async () => {
  await sql('slayer', "insert into works values (1, 'Symphony No. 1')");
  await sh('slayer', 'echo score >/data/sounz/score.pdf; echo page >/usr/share/sounz/page.html; mkdir -p /var/lib/apollo/index && echo segment >/var/lib/apollo/index/_0.cfs');
  const run = await replicateNow(config, await appliedPair(engine));
  expect(run).toMatchObject({ source: 'slayer', receiver: 'megadeth' });
  expect(await sql('megadeth', 'select title from works')).toBe('Symphony No. 1');
  expect((await sh('megadeth', 'cat /data/sounz/score.pdf /usr/share/sounz/page.html /var/lib/apollo/index/_0.cfs')).stdout)
    .toBe('score\npage\nsegment\n');
  // Every step is logged with its size and duration; the stamp says when and from where.
  expect(await generalLog('slayer')).toMatch(/replication\[\d+\]: dump of sounz: \d+ bytes in \d+ s/);
  expect(await generalLog('megadeth')).toMatch(/pull of data-sounz from 198\.51\.100\.11 into \/data\/sounz: \d+ bytes in \d+ s/);
  expect(await generalLog('megadeth')).toMatch(/restore of sounz from \d+ bytes in \d+ s/);
  expect((await sh('megadeth', 'cat /etc/sounz/last-replication')).stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 198\.51\.100\.11\n$/);
});

test('a truncated dump leaves the standby\'s database in service and logs why', async () => {
  // Cut in place, same time: its marker vouches for another size.
  await sh('slayer', 'f=/var/backups/sounz/sounz.dump; head -c 300 $f >$f.cut && touch -r $f $f.cut && mv $f.cut $f');
  const result = await pullOnMegadeth();
  expect(result.code).toBe(1);
  expect(result.stderr).toContain('kept the database in service');
  expect(await sql('megadeth', 'select title from works')).toBe('Symphony No. 1');
  expect(await generalLog('megadeth')).toMatch(/FAILED: the dump from 198\.51\.100\.11 \(300 bytes\) is not the one its marker vouches for \(\d+ bytes\); kept the database in service/);
});

test('each side refuses to run on a host whose status says it is not that side', async () => {
  const result = await sandbox.execOn('slayer', [REPLICATE_COMMAND, 'pull-and-restore', info.hosts.megadeth.address]);
  expect(result.code).toBe(1);
  expect(result.stderr).toContain("this host's status is production: it is not the standby side of the replication");
  expect((await sandbox.execOn('megadeth', [REPLICATE_COMMAND, 'dump'])).stderr)
    .toContain("this host's status is standby: it is not the production side of the replication");
});

test('an empty tree on the source (a volume not mounted) is not mirrored over the standby\'s copy', async () => {
  await sh('slayer', 'mkdir -p /tmp/away && mv /usr/share/sounz/* /tmp/away/');
  try {
    const result = await pullOnMegadeth();
    expect(result.stderr).toContain('usr-share-sounz on 198.51.100.11 is empty while /usr/share/sounz here is not: not mirroring an empty tree');
    expect((await sh('megadeth', 'cat /usr/share/sounz/page.html')).stdout).toBe('page\n');
  } finally {
    await sh('slayer', 'mv /tmp/away/* /usr/share/sounz/');
  }
});

test('a nightly pull restores only a dump taken since it began, waiting for the source\'s job', async () => {
  await sql('slayer', 'create table nightly (night int); insert into nightly values (1)');
  // Yesterday's dump is there; the standby's job starts first, the source's dump comes 3 s later.
  await sandbox.execOn('slayer', ['touch', '-d', '1 day ago', '/var/backups/sounz/sounz.dump']);
  const pull = pullOnMegadeth();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  await sandbox.execOn('slayer', [REPLICATE_COMMAND, 'dump']);
  expect((await pull).code).toBe(0);
  expect(await sql('megadeth', 'select night from nightly')).toBe('1');
  expect(await generalLog('megadeth')).toMatch(/waiting for a dump on 198\.51\.100\.11 taken since/);
});

test('two runs started at once: one runs, the other exits, the data is intact', async () => {
  await sql('slayer', "insert into works values (2, 'String Quartet')");
  await sandbox.execOn('slayer', [REPLICATE_COMMAND, 'dump']);
  const [first, second] = await Promise.all([pullOnMegadeth(), pullOnMegadeth()]);
  expect([first.code, second.code].sort()).toEqual([0, 75]);
  expect([first.stderr, second.stderr].join('')).toContain('another replication run is in progress');
  expect(await sql('megadeth', 'select title from works order by id')).toBe('Symphony No. 1\nString Quartet');
});

test('a pull from a dead production fails and deletes nothing on the standby', async () => {
  await sandbox.kill('slayer');
  try {
    const result = await pullOnMegadeth();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/rsync of [a-z-]+ from 198\.51\.100\.11 \(nothing deleted here\)/);
    expect((await sh('megadeth', 'cat /data/sounz/score.pdf /var/lib/apollo/index/_0.cfs')).stdout).toBe('score\nsegment\n');
    expect(await sql('megadeth', 'select count(*) from works')).toBe('2');
  } finally {
    await sandbox.revive('slayer');
  }
});

test('after EMERGENCY megadeth serves the replicated data; only what came after the last run is lost', async () => {
  await replicateNow(config, await appliedPair(engine));
  // `up --refresh` reads the stamp again: the stack says what an emergency now would lose.
  await engine.run(['up', '--yes', '--skip-preview', '--refresh', '--message', 'NORMAL: refresh the RPO']);
  const { lastReplication } = await engine.outputs().then((o) => o as { lastReplication: string });
  const stamp = (await sh('megadeth', 'cat /etc/sounz/last-replication')).stdout.trim();
  expect(lastReplication).toBe(stamp);
  await sql('slayer', "insert into works values (3, 'written after the last replication')");
  await sandbox.kill('slayer');
  try {
    await engine.setStatuses({ primary: 'down', secondary: 'production_alone' });
    await engine.up('EMERGENCY: slayer died');
    expect((await sandbox.httpFromVantage(info.serviceIp))?.startsWith('megadeth ')).toBe(true);
    expect(await sql('megadeth', 'select id from works order by id')).toBe('1\n2');
  } finally {
    await sandbox.revive('slayer');
  }
});

test('npm run replicate-now runs against the stack of the environment', async () => {
  await engine.setStatuses({ primary: 'production_as_standby', secondary: 'standby_as_production' });
  await engine.up('RECOVERY');
  await sql('megadeth', "insert into works values (4, 'written in RECOVERY')");
  const { stdout } = await promisify(execFile)('bash',
    [join(__dirname, '..', '..', 'scripts', 'ops.sh'), 'replicateNow', '--stack', engine.stack], { env: engine.environment });
  expect(stdout).toMatch(/^replicated megadeth -> slayer in \d+\.\d s$/m);
  expect(await sql('slayer', 'select id from works order by id')).toBe('1\n2\n4');
});
