// Continuous mode (PostgreSQL streaming) on a stack of its own: a planned switchover's dark window and
// rows lost with each database size, then EMERGENCY with slayer killed mid-stream.
import { randomBytes } from 'crypto';
import * as sandbox from '../../sandbox';
import { admitWriter, longestGap, Writer, WRITER_TABLE, WRITER_TABLE_SQL } from '../../sandbox/writer';
import { sandboxStack } from '../../ops/sandboxStack';
import { converge, median, NORMAL, operator, RECOVERY, RUNS, Series, series, sleep, Watch } from '../measure';
import { DARK_DATABASES_MB } from './dark';

const PGDATA = '/var/lib/postgresql/15/main';
const psqlOn = async (host: sandbox.HostName, query: string) => (await sandbox.execOn(host,
  ['runuser', '-u', 'postgres', '--', 'psql', '-qtAX', '-d', 'sounz', '-c', query])).stdout.trim();
const rowsOn = async (host: sandbox.HostName) =>
  new Set((await psqlOn(host, `SELECT n FROM ${WRITER_TABLE}`)).split('\n').filter(Boolean).map(Number));

/** Waits until the writer has `rows` committed, 30 s at most (a writer the server does not let in commits nothing). */
async function committed(writer: Writer, rows: number): Promise<void> {
  const since = Date.now();
  while (writer.acked.length < rows) {
    if (Date.now() - since > 30_000) throw new Error(`the writer committed ${writer.acked.length} rows in 30 s, not ${rows}`);
    await sleep(20);
  }
}

/** One planned switchover as seen from outside, in ms from the operator's command: each HTTP answer on the service IP and each commit of the writer. */
export interface Timeline {
  size: string;
  switchMs: number;
  answers: { ms: number; host: string }[];
  commits: number[];
}

/**
 * Continuous mode on a stack of its own: a planned switchover's dark window (HTTP at the vantage point)
 * and the database's (the writer's longest time between two commits) with each database size, the rows
 * lost (0 expected); then EMERGENCY with slayer killed mid-stream: the rows lost and the lag the outputs report.
 */
export async function benchContinuous(info: sandbox.SandboxInfo, watch: Watch) {
  const address = (host: sandbox.HostName) => info.hosts[host].address;
  // The writer connects from the operator's machine (a bench fixture, not the program's).
  for (const host of sandbox.hostnames) await admitWriter(host);
  const engine = await sandboxStack(info, 'bench-continuous');
  try {
    await engine.setConfig('sounz:replication.mode', 'continuous', { path: true });
    await engine.setConfig('sounz:replication.password', randomBytes(18).toString('base64'), { secret: true, path: true });
    await converge(engine, NORMAL, 'bench: NORMAL, continuous');
    await psqlOn('slayer', WRITER_TABLE_SQL);
    const caughtUp = async () => {
      const lsn = await psqlOn('slayer', 'SELECT pg_current_wal_lsn()');
      for (let i = 0; i < 600; i++) {
        if (await psqlOn('megadeth', `SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '${lsn}') >= 0`) === 't') return;
        await sleep(100);
      }
      throw new Error('megadeth did not catch up within 60 s');
    };
    const switchover: Record<string, { dark: Series; databaseDark: Series; rowsLost: number[] }> = {};
    let timeline: Timeline | undefined;
    for (const mb of DARK_DATABASES_MB) {
      await psqlOn('slayer', `drop table if exists bulk; create table bulk as select g, repeat(md5(g::text), 3) t from generate_series(1, ${mb * 5700}) g`);
      const size = await psqlOn('slayer', "select pg_database_size('sounz')");
      await caughtUp();
      const dark = [], databaseDark = [], rowsLost = [];
      for (let i = 0; i < RUNS; i++) {
        const writer = new Writer([address('slayer'), address('megadeth')]);
        writer.start();
        await committed(writer, 25);
        const started = Date.now();
        await operator(engine, ['switchover']);
        dark.push(await watch.longestSilence('megadeth', started));
        while (!writer.acked.some((row) => row.at > Date.now() - 500)) await sleep(20);
        const acked = await writer.stop();
        // The first run's timeline, for bench/README.md's plot (bench/plot.mjs): who answered at the vantage point, and the commits.
        timeline ??= {
          size: `${Math.round(Number(size) / 2 ** 20)} MiB`, switchMs: Date.now() - started,
          answers: watch.answers.filter((a) => a.at >= started - 1000).map((a) => ({ ms: a.at - started, host: a.host })),
          commits: acked.filter((row) => row.at >= started - 1000).map((row) => row.at - started),
        };
        const there = await rowsOn('megadeth');
        rowsLost.push(acked.filter((row) => !there.has(row.n)).length);
        databaseDark.push(longestGap(acked));
        console.log(`continuous switchover, database of ${size} bytes, run ${i + 1}: dark ${dark[i]} ms, ` +
          `no commit for ${databaseDark[i]} ms, ${acked.length} rows committed, ${rowsLost[i]} lost (switch took ${Date.now() - started} ms)`);
        await converge(engine, NORMAL, 'bench: NORMAL, continuous');
      }
      switchover[`${Math.round(Number(size) / 2 ** 20)} MiB`] = { dark: series(dark), databaseDark: series(databaseDark), rowsLost };
    }
    await psqlOn('slayer', 'drop table if exists bulk');
    const emergency: { rowsLost: number[]; committed: number[]; reportedLag: unknown[]; toAnswerMs: number[] } = { rowsLost: [], committed: [], reportedLag: [], toAnswerMs: [] };
    for (let i = 0; i < RUNS; i++) {
      const writer = new Writer([address('slayer')]);
      writer.start();
      await committed(writer, 50);
      await sandbox.kill('slayer');
      const acked = await writer.stop();
      const { started } = await operator(engine, ['emergency', 'slayer']);
      emergency.toAnswerMs.push(await watch.firstAnswer('megadeth', started));
      const there = await rowsOn('megadeth');
      const lost = acked.filter((row) => !there.has(row.n));
      const { lag } = (await engine.outputs()).replication as { lag: { lastReplayedTransaction: string } };
      emergency.rowsLost.push(lost.length);
      emergency.committed.push(acked.length);
      emergency.reportedLag.push({ ...lag, lastCommitOnSlayer: new Date(Math.max(...acked.map((row) => row.at))).toISOString() });
      console.log(`continuous EMERGENCY, run ${i + 1}: megadeth answered ${emergency.toAnswerMs[i]} ms after the command; ` +
        `${lost.length} of ${acked.length} rows lost; outputs: ${JSON.stringify(lag)}`);
      await sandbox.revive('slayer');
      await converge(engine, RECOVERY, 'bench: RECOVERY, continuous');
      await converge(engine, NORMAL, 'bench: NORMAL, continuous');
    }
    // What the rebuilds kept aside, removed: each is a full data directory.
    await sandbox.execOn('slayer', ['sh', '-c', `rm -rf ${PGDATA}.kept-*`]);
    await sandbox.execOn('megadeth', ['sh', '-c', `rm -rf ${PGDATA}.kept-*`]);
    return { switchover, timeline, emergency: { ...emergency, medianRowsLost: median(emergency.rowsLost), toAnswer: series(emergency.toAnswerMs) } };
  } finally {
    await engine.dispose({ destroy: false });
  }
}
