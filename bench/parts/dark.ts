// The dark window of a planned switchover with a small and a large database: the longest time the
// vantage point got no answer at all (the site answers read-only during the final grab).
import * as sandbox from '../../sandbox';
import type { Engine } from '../../ops/engine';
import { converge, NORMAL, operator, RUNS, Series, series, Watch } from '../measure';

/** Database sizes for the dark time of a planned switchover: it must not grow with the data. */
export const DARK_DATABASES_MB = (process.env.BENCH_DARK_MB ?? '22,600').split(',').map(Number);

export async function benchDark(engine: Engine, watch: Watch): Promise<Record<string, Series>> {
  const dark: Record<string, Series> = {};
  for (const mb of DARK_DATABASES_MB) {
    await sandbox.execOn('slayer', ['sh', '-c', 'runuser -u postgres -- psql -qd sounz -c ' +
      `"drop table if exists bulk; create table bulk as select g, repeat(md5(g::text), 3) t from generate_series(1, ${mb * 5700}) g"`]);
    const size = (await sandbox.execOn('slayer', ['sh', '-c',
      `runuser -u postgres -- psql -qtAX -d sounz -c "select pg_database_size('sounz')"`])).stdout.trim();
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      const started = Date.now();
      await operator(engine, ['switchover']);
      runs.push(await watch.longestSilence('megadeth', started));
      console.log(`dark window, database of ${size} bytes, run ${i + 1}: ${runs[i]} ms (switch took ${Date.now() - started} ms)`);
      await converge(engine, NORMAL, 'bench: NORMAL');
    }
    dark[`${Math.round(Number(size) / 2 ** 20)} MiB`] = series(runs);
  }
  await sandbox.execOn('slayer', ['sh', '-c', 'runuser -u postgres -- psql -qd sounz -c "drop table if exists bulk"']);
  return dark;
}
