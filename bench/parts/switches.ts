// The program's own switches through the operator commands: no-op up and preview (operator and CLI
// paths), EMERGENCY (command to the standby's first HTTP answer), planned switchover with new data; with
// BENCH_VS, each EMERGENCY run of this checkout is followed by one of the other checkout's commands.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { dirname, join } from 'path';
import * as sandbox from '../../sandbox';
import type { Engine } from '../../ops/engine';
import { breakdown } from '../engineLog';
import { converge, duration, HERE, NORMAL, operator, ops, RECOVERY, RUNS, Series, series, timed, trace, VS, Watch } from '../measure';

export const SWITCHOVER_DATA_MIB = 32;

/** The operator's no-op `up` and `preview` (`npm run up`, `npm run preview`): the program in their own process. */
export async function benchNoop(engine: Engine): Promise<{ noopUp: Series; preview: Series; cliNoopUp: Series; cliPreview: Series }> {
  const noop = [], preview = [], cliNoop = [], cliPreview = [];
  for (let i = 0; i < RUNS; i++) {
    noop.push(await duration(ops(engine, 'up', ['--reason', 'bench: no-op'])));
    preview.push(await duration(ops(engine, 'up', ['--preview'])));
    cliNoop.push(await timed(() => engine.up('bench: no-op')));
    cliPreview.push(await timed(() => engine.preview()));
  }
  return { noopUp: series(noop), preview: series(preview), cliNoopUp: series(cliNoop), cliPreview: series(cliPreview) };
}

/**
 * Runs `work` with the stack's config file in `checkout` too (the other checkout's commands read it
 * there), and brings back what they wrote into it.
 */
export async function inCheckout<T>(engine: Engine, checkout: string, work: () => Promise<T>): Promise<T> {
  if (checkout === HERE) return work();
  const file = `Pulumi.${engine.stack}.yaml`;
  copyFileSync(join(HERE, file), join(checkout, file));
  try {
    return await work();
  } finally {
    if (existsSync(join(checkout, file))) copyFileSync(join(checkout, file), join(HERE, file));
  }
}

/** One EMERGENCY from converged NORMAL: slayer killed, the operator's switch, the first answer from megadeth; then back to NORMAL. */
export async function emergencyOnce(engine: Engine, watch: Watch, checkout = HERE): Promise<{ commandToAnswer: number; commandTotal: number }> {
  await sandbox.kill('slayer');
  const { started, ended } = await inCheckout(engine, checkout, () => operator(engine, ['emergency', 'slayer'], checkout));
  const answered = await watch.firstAnswer('megadeth', started);
  await sandbox.revive('slayer');
  await converge(engine, RECOVERY, 'bench: RECOVERY');
  await converge(engine, NORMAL, 'bench: NORMAL');
  return { commandToAnswer: answered, commandTotal: ended - started };
}

export async function benchEmergency(engine: Engine, watch: Watch): Promise<{ emergency: Series; emergencyVs?: Series }> {
  type Run = Awaited<ReturnType<typeof emergencyOnce>>;
  const runs: Run[] = [], vsRuns: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await emergencyOnce(engine, watch));
    if (VS) vsRuns.push(await emergencyOnce(engine, watch, VS));
    console.log(`EMERGENCY, run ${i + 1}: ${runs[i].commandToAnswer} ms${VS ? ` (${VS}: ${vsRuns[i].commandToAnswer} ms)` : ''}`);
  }
  const toAnswer = (r: Run[]) => series(r.map((p) => p.commandToAnswer), r);
  return { emergency: toAnswer(runs), ...(VS ? { emergencyVs: toAnswer(vsRuns) } : {}) };
}

export async function benchSwitchover(engine: Engine, watch: Watch): Promise<Series> {
  const runs: { commandToAnswer: number; commandTotal: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    // New data every run, so that each final grab moves it: a file and a thousand rows.
    await sandbox.execOn('slayer', ['sh', '-c',
      `head -c ${SWITCHOVER_DATA_MIB}M /dev/urandom >/data/sounz/bench-${i}.bin && ` +
      `runuser -u postgres -- psql -qd sounz -c "create table if not exists bench (n int, t text); ` +
      `insert into bench select g, md5(g::text) from generate_series(1, 1000) g"`]);
    const { started, ended } = await operator(engine, ['switchover']);
    const answered = await watch.firstAnswer('megadeth', started);
    runs.push({ commandToAnswer: answered, commandTotal: ended - started });
    await converge(engine, NORMAL, 'bench: NORMAL');
  }
  return series(runs.map((r) => r.commandToAnswer), runs);
}

/** A refused config: the (production, production) pair, previewed by the operator command (and BENCH_VS's) and by the CLI. */
export async function benchRefusal(engine: Engine): Promise<{ operator: Series; cli: Series; operatorVs?: Series }> {
  await engine.setStatuses({ primary: 'production', secondary: 'production' });
  const refusal = [], cli = [], vs = [];
  for (let i = 0; i < RUNS; i++) {
    refusal.push(await duration(ops(engine, 'up', ['--preview'])));
    if (VS) vs.push(await inCheckout(engine, VS, () => duration(ops(engine, 'up', ['--preview'], VS))));
    cli.push(await timed(() => engine.run(['preview'], { allowFailure: true })));
    console.log(`refusal, run ${i + 1}: ${refusal[i]} ms${VS ? ` (${VS}: ${vs[i]} ms)` : ''} (CLI ${cli[i]} ms)`);
  }
  await engine.setStatuses(NORMAL);
  return { operator: series(refusal), cli: series(cli), ...(VS ? { operatorVs: series(vs) } : {}) };
}

/** One EMERGENCY more, traced: its breakdown (the log slows the engine, so its total is above the others'). */
export async function tracedEmergency(engine: Engine, watch: Watch): Promise<Record<string, number>> {
  const log = join(mkdtempSync(join(tmpdir(), 'sounz-trace-')), 'engine.log');
  trace.env = { SOUNZ_ENGINE_LOG: log };
  try {
    await sandbox.kill('slayer');
    const { started } = await operator(engine, ['emergency', 'slayer']);
    const answered = started + await watch.firstAnswer('megadeth', started);
    return breakdown(readFileSync(log, 'utf8'), started, answered, 'megadeth-service-ip');
  } finally {
    trace.env = {};
    rmSync(dirname(log), { recursive: true, force: true });
    await sandbox.revive('slayer');
    await converge(engine, RECOVERY, 'bench: RECOVERY');
    await converge(engine, NORMAL, 'bench: NORMAL');
  }
}
