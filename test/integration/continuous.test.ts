// Continuous replication (issue 14) through the real engine on the sandbox: PostgreSQL streaming
// replication from the host that serves to its standby, converged by `pulumi up`, with the
// acceptance's writer committing a numbered row every 20 ms from the operator's machine.
import { randomBytes } from 'crypto';
import * as sandbox from '../../sandbox';
import { Engine } from '../../ops/engine';
import { sandboxStack } from '../../ops/sandboxStack';
import { appliedPair, replicateNow, stackConfigOf } from '../../ops/replicateNow';
import { NORMAL, RECOVERY, aloneOn } from '../../model/pairs';
import type { Lag, Promotion, Slot } from '../../model/continuous';
import { pairStatus, statusScreen } from '../../ops/status';
import { lsnBytes } from '../../providers/streamingReplication';
import { sh, sql } from '../support/hosts';
import { admitWriter, runningWriters, Writer, WRITER_TABLE, WRITER_TABLE_SQL } from '../../sandbox/writer';

jest.setTimeout(240_000);

const PASSWORD = randomBytes(18).toString('base64');
const PGDATA = '/var/lib/postgresql/15/main';
/** Where the host's pg_hba.conf is, as its server says (the data directory on a namespace host, /etc/postgresql on a Debian one). */
const HBA_FILE = "runuser -u postgres -- psql -qtAX -c 'SHOW hba_file'";

let info: sandbox.SandboxInfo;
let engine: Engine;

const address = (host: sandbox.HostName) => info.hosts[host].address;
const until = async (what: string, ok: () => Promise<boolean>, seconds: number) => {
  for (const end = Date.now() + seconds * 1000; Date.now() < end;) {
    if (await ok().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not within ${seconds} s: ${what}`);
};
const rowsOn = async (host: sandbox.HostName) =>
  new Set((await sql(host, `SELECT n FROM ${WRITER_TABLE}`)).split('\n').filter(Boolean).map(Number));
const replication = async () => (await engine.outputs()).replication as {
  mode: string; lag: Lag | null; promotion: (Promotion & { host: string }) | null;
  state: Record<string, string>; outcome: string; kept: Record<string, string[]>; lastFileSync: string; slot: Slot | null;
};
/** megadeth's upstream, as an operator would change it by hand. */
const setConninfo = (value: string) => sh('megadeth', `printf '%s\\n' "ALTER SYSTEM SET primary_conninfo = :'c';" 'SELECT pg_reload_conf();' | ` +
  `runuser -u postgres -- psql -qtAX -v c='${value}' >/dev/null`);
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

beforeAll(async () => {
  info = await sandbox.up(undefined, { fresh: true });
  // The writer connects from the operator's machine: let it in on both hosts (a test fixture, not the program's).
  for (const host of sandbox.hostnames) await admitWriter(host);
  engine = await sandboxStack(info, 'continuous-test');
  await engine.setConfig('sounz:replication.mode', 'continuous', { path: true });
  await engine.setConfig('sounz:replication.password', PASSWORD, { secret: true, path: true });
  // The files' cron job every minute while NORMAL runs, to see it fire (the planned switches put the default back).
  await engine.setConfig('sounz:replication.filesSchedule', '* * * * *', { path: true });
});
afterEach(async () => {
  await Promise.all([...runningWriters].map((writer) => writer.stop()));
});
// On Debian hosts systemd runs PostgreSQL: after every step its unit says what the outputs say (a server
// started or stopped behind its back would leave the unit's idea of it wrong).
afterEach(async () => {
  if (sandbox.HOST_KIND !== 'debian') return;
  const { state } = await replication();
  for (const host of sandbox.hostnames) {
    const unit = await sh(host, 'systemctl is-active postgresql@15-main || true').catch(() => undefined);
    if (unit === undefined || state?.[host] === undefined) continue; // powered off, or not in the outputs
    expect(`${host}: ${unit}`).toBe(`${host}: ${state[host] === 'stopped' ? 'inactive' : 'active'}`);
  }
});
afterAll(async () => {
  await engine?.dispose({ destroy: false });
  await sandbox.down();
});

describe('NORMAL in continuous mode', () => {
  /** When the first up ended, megadeth's cron file for pull-files in place. */
  let cronInPlace = 0;

  test('megadeth is a hot standby streaming from slayer; its own old data directory is kept and listed', async () => {
    await engine.up('NORMAL: continuous replication');
    cronInPlace = Date.now();
    // Only megadeth's cron brings this over: the tests below call pull-files themselves only after seeing it.
    await sh('slayer', 'echo written-for-cron >/data/sounz/by-cron.txt');
    expect(await sql('megadeth', 'SELECT pg_is_in_recovery()')).toBe('t');
    expect(await sql('megadeth', "SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'")).toBe(address('slayer'));
    expect(await sql('slayer', 'SELECT pg_is_in_recovery()')).toBe('f');
    const seen = await replication();
    expect(seen).toMatchObject({ mode: 'continuous', state: { slayer: 'primary', megadeth: `streaming from ${address('slayer')}` } });
    expect(seen.kept.megadeth).toEqual([expect.stringMatching(new RegExp(`^${PGDATA}\\.kept-\\d{8}-\\d{6}-g1$`))]);
    expect(await sh('megadeth', `ls -d ${seen.kept.megadeth[0]}/base`)).toBe(`${seen.kept.megadeth[0]}/base`);
    expect(seen.lag).toMatchObject({ bytes: expect.any(Number) });
  });

  test('slayer keeps a replication slot for megadeth, bounded, which megadeth streams through; the outputs and status show it', async () => {
    expect(await sql('slayer', "SELECT slot_type || ' ' || active || ' ' || wal_status FROM pg_replication_slots")).toBe('physical true reserved');
    expect(await sql('slayer', "SELECT slot_name FROM pg_replication_slots")).toBe('sounz_megadeth');
    expect(await sql('slayer', 'SHOW max_slot_wal_keep_size')).toBe('1GB');
    expect(await sql('megadeth', "SELECT slot_name FROM pg_stat_wal_receiver WHERE status = 'streaming'")).toBe('sounz_megadeth');
    expect((await replication()).slot).toEqual({ name: 'sounz_megadeth', active: true, walStatus: 'reserved', retainedBytes: expect.any(Number) });
    const status = await pairStatus(engine);
    expect(status.hosts.find((h) => h.name === 'slayer')?.slots).toEqual([
      { name: 'sounz_megadeth', active: true, walStatus: 'reserved', retainedBytes: expect.any(Number) }]);
    expect(statusScreen(status)).toMatch(/slot sounz_megadeth active, wal_status reserved, \d+ bytes retained/);
    expect(status.attention.filter((a) => /slot|stream/.test(a))).toEqual([]);
  });

  test('a row written on slayer is on megadeth within seconds; megadeth refuses writes', async () => {
    await sql('slayer', WRITER_TABLE_SQL);
    await sql('slayer', `INSERT INTO ${WRITER_TABLE} (n) VALUES (1000000)`);
    await until('the row on megadeth', async () => (await rowsOn('megadeth')).has(1000000), 10);
    const refused = await sandbox.execOn('megadeth', ['runuser', '-u', 'postgres', '--', 'psql', '-qtAX', '-d', 'sounz', '-c',
      `INSERT INTO ${WRITER_TABLE} (n) VALUES (1000001)`]);
    expect(refused.stderr).toContain('cannot execute INSERT in a read-only transaction');
  });

  test('pg_hba lets the replication role in from the peer only, with SCRAM; the password is nowhere in plaintext', async () => {
    expect(await sh('slayer', `grep sounz_replication "$(${HBA_FILE})"`))
      .toBe(`host replication sounz_replication ${address('megadeth')}/32 scram-sha-256 # sounz-standby: the peer only`);
    expect(await sql('slayer', "SELECT rolpassword LIKE 'SCRAM-SHA-256%' FROM pg_authid WHERE rolname = 'sounz_replication'")).toBe('t');
    expect(await sh('megadeth', 'stat -c %a:%U /var/lib/postgresql/.pgpass')).toBe('600:postgres');
    expect(await engine.exportState()).not.toContain(PASSWORD);
    expect(await sh('slayer', `cat /var/log/sounz/sounz-general.log /var/lib/postgresql/*.log ${PGDATA}/postgresql.auto.conf`)).not.toContain(PASSWORD);
    expect(await sh('megadeth', `cat /var/log/sounz/sounz-general.log /var/lib/postgresql/*.log ${PGDATA}/postgresql.auto.conf`)).not.toContain(PASSWORD);
    // The nightly dump keeps running on the server; the standby's cron pulls only the files.
    expect(await sh('slayer', 'grep -c " dump " /etc/cron.d/sounz-replication')).toBe('1');
    expect(await sh('megadeth', 'grep -o "pull-[a-z-]* " /etc/cron.d/sounz-replication')).toBe('pull-files');
  });

  test('the files follow by pull-files, by the nightly copy\'s rules; refresh reads the time of the last sync', async () => {
    // Fired by cron (filesSchedule every minute) within 75 s of the up that wrote the cron file.
    // The run is over once it has stamped the sync, just after the trees land.
    await until('by-cron.txt pulled to megadeth by cron', async () => (await sh('megadeth', 'cat /data/sounz/by-cron.txt')) === 'written-for-cron' &&
      STAMP.test(await sh('megadeth', 'cat /etc/sounz/last-file-sync')), Math.max(1, 75 - (Date.now() - cronInPlace) / 1000));
    await sh('slayer', 'echo written-on-slayer >/data/sounz/continuous.txt');
    // --wait: cron's run may hold the lock at this moment.
    const run = await sandbox.execOn('megadeth', ['/usr/share/sounz/scripts/dr/sounz-replicate', '--wait', 'pull-files', address('slayer')]);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^kept: \/data\/sounz\/\.sounz-replication\/kept\/\S+ /);
    expect(await sh('megadeth', 'cat /data/sounz/continuous.txt')).toBe('written-on-slayer');
    const synced = await sh('megadeth', 'cat /etc/sounz/last-file-sync');
    await engine.up('refresh: the last file sync', { extra: ['--refresh'] });
    // Cron may land another sync between reading the stamp and the refresh: the refresh reads one of them.
    const { lastFileSync } = await replication();
    expect(lastFileSync).toMatch(STAMP);
    expect([synced <= lastFileSync, lastFileSync <= await sh('megadeth', 'cat /etc/sounz/last-file-sync')]).toEqual([true, true]);
    // A source that ranks below this host is refused, nothing changed (exit 77), as in the nightly copy.
    await sh('megadeth', 'echo 99 >/etc/sounz/generation/data');
    const refused = await sandbox.execOn('megadeth', ['/usr/share/sounz/scripts/dr/sounz-replicate', '--wait', 'pull-files', address('slayer')]);
    expect([refused.code, refused.stderr.trim()]).toEqual([77, expect.stringContaining('refusing to copy older files')]);
    await sh('megadeth', 'echo 1 >/etc/sounz/generation/data');
  });

  test('a second up changes nothing', async () => {
    await engine.run(['preview', '--expect-no-changes']);
  });
});

/** Every row the writer had committed on the old server is on `host`: the numbers of those that are not. */
const lostOn = async (host: sandbox.HostName, acked: { n: number }[]) => {
  const there = await rowsOn(host);
  return acked.filter((row) => !there.has(row.n)).map((row) => row.n);
};

describe('planned switches in continuous mode, the writer committing a row every 20 ms', () => {
  beforeAll(() => engine.setConfig('sounz:replication.filesSchedule', '*/5 * * * *', { path: true }));

  const switchOver = async (to: sandbox.HostName, pair: typeof NORMAL, message: string) => {
    const from = to === 'megadeth' ? 'slayer' : 'megadeth';
    const writer = new Writer([address(from), address(to)]);
    writer.start();
    await until('the writer commits', async () => writer.acked.length > 20, 10);
    await engine.setStatuses(pair);
    await engine.up(message);
    const switched = Date.now();
    await until('the writer commits on the new server', async () => writer.acked.some((row) => row.at > switched), 10);
    const acked = await writer.stop();
    return { acked, from };
  };

  test('a planned switch to a standby that does not stream is refused by the preflight, naming both hosts', async () => {
    const conninfo = await sql('megadeth', 'SHOW primary_conninfo');
    await setConninfo('host=192.0.2.1 connect_timeout=1');
    try {
      await until('megadeth stops streaming', async () => (await sql('megadeth', "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")) === '0', 20);
      await engine.setStatuses(RECOVERY);
      const failure = await engine.up('planned switchover to a standby that does not stream').then(() => undefined, (e: Error) => e);
      expect(failure?.message).toContain('Refused: preflight: megadeth is a hot standby that does not stream from slayer');
      expect(await sql('slayer', 'SELECT pg_is_in_recovery()')).toBe('f');
    } finally {
      await setConninfo(conninfo);
      await engine.setStatuses(NORMAL);
    }
    await until('megadeth streams again', async () => (await sql('megadeth', "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")) === '1', 20);
  });

  test('planned switchover: 0 rows lost; slayer, shut down cleanly, follows megadeth without a base backup', async () => {
    // A file written just before the switch comes along with the database (issue 24 case 4), not by the next cron pull.
    await sh('slayer', 'echo written-before-the-switch >/data/sounz/just-before.txt');
    const { acked } = await switchOver('megadeth', RECOVERY, 'planned switchover: continuous');
    expect(await sh('megadeth', 'cat /data/sounz/just-before.txt')).toBe('written-before-the-switch');
    expect(acked.length).toBeGreaterThan(50);
    expect(await lostOn('megadeth', acked)).toEqual([]);
    expect(await sql('megadeth', 'SELECT pg_is_in_recovery()')).toBe('f');
    expect(await sql('slayer', "SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'")).toBe(address('megadeth'));
    const seen = await replication();
    expect(seen.outcome).toMatch(/megadeth: handover from slayer: its last write at [0-9A-F]+\/[0-9A-F]+, replayed here up to/);
    expect(seen.outcome).toContain(`slayer: follows ${address('megadeth')}`);
    expect(seen.kept.slayer).toEqual([]);
    // The new server keeps a slot for slayer alone, which slayer streams through; slayer, a standby now, keeps none.
    expect(await sql('megadeth', "SELECT string_agg(slot_name || ' ' || active, ',') FROM pg_replication_slots")).toBe('sounz_slayer true');
    expect(await sql('slayer', 'SELECT count(*) FROM pg_replication_slots')).toBe('0');
    expect(seen.slot).toMatchObject({ name: 'sounz_slayer', active: true });
    await sql('megadeth', `INSERT INTO ${WRITER_TABLE} (n) VALUES (2000000)`);
    await until('the row on slayer', async () => (await rowsOn('slayer')).has(2000000), 10);
  });

  test('back to NORMAL: 0 rows lost; megadeth follows slayer again', async () => {
    const { acked } = await switchOver('slayer', NORMAL, 'back to NORMAL: continuous');
    expect(await lostOn('slayer', acked)).toEqual([]);
    expect(await sql('megadeth', "SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'")).toBe(address('slayer'));
    await engine.run(['preview', '--expect-no-changes']);
  });
});

describe('a standby further behind than its slot\'s bound', () => {
  test('the server invalidates the slot: status says megadeth needs a rebuild, a planned switch to it is refused; a rebuild brings it back', async () => {
    const conninfo = await sql('megadeth', 'SHOW primary_conninfo');
    await setConninfo('host=192.0.2.1 connect_timeout=1');
    await until('megadeth stops streaming', async () => (await sql('megadeth', "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")) === '0', 20);
    // A fixture: slayer's bound made tiny (and wal_keep_size, which keeps WAL beside it, off), then WAL written past it;
    // the next up of slayer's part puts the config's values back.
    await sql('slayer', "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
    await sql('slayer', 'ALTER SYSTEM SET wal_keep_size = 0');
    await sql('slayer', 'SELECT pg_reload_conf()');
    await until('slayer loses megadeth\'s slot', async () => {
      await sql('slayer', 'DROP TABLE IF EXISTS wal_filler; CREATE TABLE wal_filler AS SELECT generate_series(1, 100000) AS g');
      await sql('slayer', 'SELECT pg_switch_wal()');
      await sql('slayer', 'CHECKPOINT');
      return (await sql('slayer', "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'sounz_megadeth'")) === 'lost';
    }, 60);
    const status = await pairStatus(engine);
    expect(status.attention).toContain('slayer: slot sounz_megadeth inactive, wal_status lost: megadeth fell further behind than ' +
      'sounz:replication.maxSlotWalKeepSize and needs a rebuild');
    // Its upstream right again: the lost slot alone stops it.
    await setConninfo(conninfo);
    await engine.setStatuses(RECOVERY);
    const failure = await engine.up('planned switchover to a standby whose slot is lost').then(() => undefined, (e: Error) => e);
    expect(failure?.message).toContain('Refused: preflight: slayer lost the replication slot of its standby megadeth');
    expect(await sql('slayer', 'SELECT pg_is_in_recovery()')).toBe('f');
    // The rebuild: megadeth declared down, then standby again (it returns by a base backup through a new slot).
    await engine.setStatuses(aloneOn('primary'));
    await engine.up('megadeth down: its slot lost');
    expect(await sql('slayer', 'SELECT count(*) FROM pg_replication_slots')).toBe('0');
    await engine.setStatuses(NORMAL);
    await engine.up('megadeth rebuilt as the standby');
    expect((await replication()).outcome).toContain(`megadeth: rebuilt from ${address('slayer')}`);
    expect(await sql('slayer', "SELECT slot_name || ' ' || active || ' ' || wal_status FROM pg_replication_slots")).toBe('sounz_megadeth true reserved');
    expect(await sql('slayer', 'SHOW max_slot_wal_keep_size')).toBe('1GB');
    await sql('slayer', `INSERT INTO ${WRITER_TABLE} (n) VALUES (6000000)`);
    await until('the row on megadeth', async () => (await rowsOn('megadeth')).has(6000000), 10);
    // The lag the rebuild's up measured had no replayed commit yet (a fresh base backup): measured again,
    // as the next test's EMERGENCY wants a lag in seconds from before it.
    await engine.up('NORMAL: the rebuilt standby replays', { extra: ['--refresh'] });
    expect((await replication()).lag).toMatchObject({ seconds: expect.any(Number) });
  });
});

describe('EMERGENCY and RECOVERY in continuous mode', () => {
  test('slayer killed mid-stream: megadeth promoted at once; rows lost within 1 s of writes, as the outputs say', async () => {
    // megadeth's lag as the last up measured it, slayer answering.
    const observed = (await replication()).lag!;
    const writer = new Writer([address('slayer')]);
    writer.start();
    await until('the writer commits', async () => writer.acked.length > 50, 10);
    await sandbox.kill('slayer');
    const acked = await writer.stop();
    await engine.setStatuses(aloneOn('secondary'));
    const { stdout } = await engine.up('EMERGENCY: slayer killed, continuous');
    expect(await sql('megadeth', 'SELECT pg_is_in_recovery()')).toBe('f');
    // Before the promotion the preflight said from when slayer's writes are lost: megadeth's last replayed commit.
    const said = /preflight: megadeth answered: [^\n]*a hot standby \(WAL receiver: [^;]*; last replayed commit (\S+)\)/.exec(stdout);
    expect(said).not.toBeNull();
    const lost = await lostOn('megadeth', acked);
    const { lag, outcome, promotion } = await replication();
    console.log(`EMERGENCY: ${acked.length} rows committed on slayer, ${lost.length} lost; outputs: ${JSON.stringify(lag)}; ${outcome}`);
    expect(lost.length).toBeLessThanOrEqual(50);
    // What the outputs report: every row committed after the last replayed transaction is lost, none before it.
    const lastReplayed = Date.parse(lag!.lastReplayedTransaction!);
    const lostSet = new Set(lost);
    expect(acked.filter((row) => lostSet.has(row.n) && row.at <= lastReplayed)).toEqual([]);
    expect(acked.filter((row) => !lostSet.has(row.n) && row.at > lastReplayed + 1)).toEqual([]);
    expect(outcome).toContain('megadeth: promoted; it had replayed the transactions committed up to');
    expect(said![1]).toBe(`${lag!.lastReplayedTransaction!.slice(0, 19)}Z`);
    // Recorded, not inferred: what megadeth had replayed at the promotion (no bytes: slayer's position
    // died with it), beside the lag last measured before it, bytes included.
    expect(promotion).toEqual({ host: 'megadeth', atPromotion: lag, lastObservedLag: observed });
    expect(observed).toMatchObject({ bytes: expect.any(Number), seconds: expect.any(Number), observedAt: expect.stringMatching(/Z$/) });
    expect(lag).toMatchObject({ bytes: null, replayLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
    expect(lsnBytes(lag!.replayLsn!)).toBeGreaterThan(lsnBytes(observed.replayLsn!));
    expect(Date.parse(lag!.observedAt!)).toBeGreaterThan(Date.parse(observed.observedAt!));
  });

  test('RECOVERY: the repaired slayer is rebuilt as megadeth\'s standby, its previous data directory kept and listed', async () => {
    await sandbox.revive('slayer');
    // One kept data directory at most: an older one (as an earlier rebuild left it) goes after this rebuild.
    await engine.setConfig('sounz:replication.keepDataDirectories', '1', { path: true });
    const older = `${PGDATA}.kept-20000101-000000-g0`;
    await sh('slayer', `install -d -o postgres -g postgres -m 0700 ${older} && echo 15 >${older}/PG_VERSION`);
    await engine.setStatuses(RECOVERY);
    await engine.up('RECOVERY: slayer repaired, continuous');
    const seen = await replication();
    expect(seen.kept.slayer).toEqual([expect.stringMatching(new RegExp(`^${PGDATA}\\.kept-\\d{8}-\\d{6}-g\\d+$`))]);
    expect(seen.outcome).toContain(`slayer: rebuilt from ${address('megadeth')}; kept: ${seen.kept.slayer[0]}`);
    // The kept directory is slayer's own cluster as it was when it died.
    expect(await sh('slayer', `cat ${seen.kept.slayer[0]}/PG_VERSION`)).toBe('15');
    expect(await sh('slayer', `ls -d ${PGDATA}.kept-*`)).toBe(seen.kept.slayer[0]);
    await sql('megadeth', `INSERT INTO ${WRITER_TABLE} (n) VALUES (3000000)`);
    await until('the row on slayer', async () => (await rowsOn('slayer')).has(3000000), 10);
  });
});

describe('switching the replication mode is a config change and up, both ways', () => {
  test('to nightly: the standby is detached, writable on its own, and the nightly copy works again', async () => {
    await engine.setConfig('sounz:replication.mode', 'nightly', { path: true });
    await engine.up('replication mode: nightly');
    expect(await sql('slayer', 'SELECT pg_is_in_recovery()')).toBe('f');
    expect((await replication()).mode).toBe('nightly');
    // The server keeps no slot for a standby that no longer streams.
    expect(await sql('megadeth', 'SELECT count(*) FROM pg_replication_slots')).toBe('0');
    expect(await sh('slayer', 'grep -o "pull-[a-z-]* " /etc/cron.d/sounz-replication')).toBe('pull-and-restore');
    await sql('megadeth', `INSERT INTO ${WRITER_TABLE} (n) VALUES (4000000)`);
    const config = await stackConfigOf(engine);
    await replicateNow(config, await appliedPair(engine));
    expect((await rowsOn('slayer')).has(4000000)).toBe(true);
    // The next up only forgets the detached host's resource (kept on the host, nothing done there).
    await engine.up('replication mode: nightly, settled');
    await engine.run(['preview', '--expect-no-changes']);
  });

  test('back to continuous: slayer is rebuilt as megadeth\'s hot standby and streams again', async () => {
    const keptBefore = await sh('slayer', `ls -d ${PGDATA}.kept-*`);
    await engine.setConfig('sounz:replication.mode', 'continuous', { path: true });
    await engine.up('replication mode: continuous');
    // The set-up saw it stream before its step ended; the full test run (two bands on two cores) once
    // found no streaming receiver at the instant of this query, so it is asked for up to 10 s.
    await until('slayer streams from megadeth', async () =>
      (await sql('slayer', "SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'")) === address('megadeth'), 10);
    await sql('megadeth', `INSERT INTO ${WRITER_TABLE} (n) VALUES (5000000)`);
    await until('the row on slayer', async () => (await rowsOn('slayer')).has(5000000), 10);
    // sounz:replication.keepDataDirectories is 1 since RECOVERY: this rebuild's kept directory replaces RECOVERY's.
    const { kept } = await replication();
    expect(kept.slayer).toEqual([expect.stringMatching(new RegExp(`^${PGDATA}\\.kept-`))]);
    expect(kept.slayer[0]).not.toBe(keptBefore);
  });
});
