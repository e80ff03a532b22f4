// `npm run bench`: how long the site is dark, on the sandbox, through the real engine, beside
// keepalived doing the same takeover of the same service IP between the same two hosts.
// Writes bench/results/<date>-<hhmm>[-<parts>].json and prints a Markdown table.
//
//   BENCH_PARTS=switch,refusal,dark,continuous,partition,keepalived (all by default; `emergency` is the
//   EMERGENCY runs of `switch` alone)   BENCH_RUNS=5   BENCH_VS=<another checkout> (alternating runs of
//   its operator commands beside this one's, for EMERGENCY and refusal)
import { spawnSync } from 'child_process';
import { mkdirSync, writeFileSync } from 'fs';
import { cpus, totalmem } from 'os';
import { join } from 'path';
import * as sandbox from '../sandbox';
import { sandboxStack } from '../ops/sandboxStack';
import { GUARD_COMMAND, GUARD_CRON_FILE, GUARD_UNIT } from '../providers/serviceGuard';
import { converge, NORMAL, RUNS, Series, VS, Watch } from './measure';
import { benchContinuous } from './parts/continuous';
import { benchDark } from './parts/dark';
import { benchKeepalived } from './parts/keepalived';
import { benchPartition } from './parts/partition';
import { benchEmergency, benchNoop, benchRefusal, benchSwitchover, SWITCHOVER_DATA_MIB, tracedEmergency } from './parts/switches';

const PARTS = new Set((process.env.BENCH_PARTS ?? 'switch,refusal,dark,continuous,partition,keepalived').split(','));

async function benchProgram(info: sandbox.SandboxInfo, watch: Watch) {
  const engine = await sandboxStack(info, 'bench');
  try {
    await converge(engine, NORMAL, 'bench: NORMAL');
    const all = PARTS.has('switch');
    return {
      ...(all ? await benchNoop(engine) : { noopUp: undefined, preview: undefined, cliNoopUp: undefined, cliPreview: undefined }),
      ...(all || PARTS.has('emergency') ? await benchEmergency(engine, watch) : {}),
      ...(all ? { switchover: await benchSwitchover(engine, watch), emergencyBreakdown: await tracedEmergency(engine, watch) } : {}),
      refusal: PARTS.has('refusal') ? await benchRefusal(engine) : undefined,
      darkSwitchover: PARTS.has('dark') ? await benchDark(engine, watch) : undefined,
      partition: PARTS.has('partition') ? await benchPartition(info, engine) : undefined,
    };
  } finally {
    await engine.dispose({ destroy: false });
  }
}

async function main(): Promise<void> {
  const wasUp = (await sandbox.status()).up;
  const info = await sandbox.up();
  const watch = new Watch(info.serviceIp);
  try {
    const program = await benchProgram(info, watch);
    const continuous = PARTS.has('continuous') ? await benchContinuous(info, watch) : undefined;
    // keepalived takes over the same service IP: slayer, which the program left serving, lets it go,
    // and the program's guard (which would answer keepalived's split brains) stops for good.
    await sandbox.execOn('slayer', ['sh', '-c', `rm -f ${GUARD_CRON_FILE}; systemctl disable --quiet ${GUARD_UNIT} 2>/dev/null; ${GUARD_COMMAND} stop; ip addr del ${info.serviceIp}/24 dev eth0`]);
    const keepalived = PARTS.has('keepalived') ? await benchKeepalived(info, watch, PARTS.has('partition')) : undefined;
    const date = new Date().toISOString();
    const keepalivedMs = keepalived?.takeover.medianMs;
    // Every time figure beside keepalived's takeover in the same run: its median over keepalived's.
    const figure = (what: string, s: Series | undefined) => (s ? [{
      what, medianS: s.medianMs / 1000, minS: s.minMs / 1000, maxS: s.maxMs / 1000,
      ratioToKeepalived: keepalivedMs ? Number((s.medianMs / keepalivedMs).toFixed(2)) : null,
    }] : []);
    const figures = [
      ...figure('EMERGENCY, primary killed: operator command (`npm run switch -- emergency slayer --yes`) to first HTTP answer from the standby', program.emergency),
      ...figure(`planned switchover with final data grab (${SWITCHOVER_DATA_MIB} MiB + 1000 rows): command to first answer`, program.switchover),
      ...figure(`EMERGENCY as above, the operator command of ${VS} (alternating runs)`, program.emergencyVs),
      ...figure('no-op up on a converged stack, operator path (`npm run up`)', program.noopUp),
      ...figure('no-op up on a converged stack, CLI path (`pulumi up`)', program.cliNoopUp),
      ...figure('preview on a converged stack, operator path (`npm run preview`)', program.preview),
      ...figure('preview on a converged stack, CLI path (`pulumi preview`)', program.cliPreview),
      ...figure('keepalived takeover, primary killed: kill to first HTTP answer from the standby', keepalived?.takeover),
      ...figure(`a host boots (${sandbox.HOST_KIND} host): power on to its services up (\`sandbox revive\`)`, keepalived?.boot),
      ...figure('a refused config, operator path (`npm run preview`) to its refusal', program.refusal?.operator),
      ...figure(`a refused config, the operator command of ${VS} (alternating runs)`, program.refusal?.operatorVs),
      ...figure('a refused config, CLI path (`pulumi preview`) to its refusal', program.refusal?.cli),
      ...Object.entries(program.darkSwitchover ?? {}).flatMap(([size, s]) =>
        figure(`planned switchover, database of ${size}: longest time without any answer (dark window)`, s)),
      ...figure('partition healed, guards: heal to one holder of the service IP (`ip addr` on both)', program.partition?.toOneHolder),
      ...figure('partition healed, guards: two MACs answered ARP at the vantage point', program.partition?.twoMacs),
      ...figure('partition healed, keepalived: heal to one holder', keepalived?.partition?.toOneHolder),
      ...figure('partition healed, keepalived: two MACs answered ARP at the vantage point', keepalived?.partition?.twoMacs),
      ...Object.entries(continuous?.switchover ?? {}).flatMap(([size, s]) => [
        ...figure(`continuous mode: planned switchover, database of ${size}: dark window (rows lost: ${s.rowsLost.join(', ')})`, s.dark),
        ...figure(`continuous mode: planned switchover, database of ${size}: longest time between two commits of the writer`, s.databaseDark)]),
      ...figure('continuous mode: EMERGENCY, slayer killed mid-stream: operator command to first HTTP answer from the standby', continuous?.emergency.toAnswer),
    ];
    const results = {
      date,
      runs: RUNS,
      machine: { cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) },
      hosts: sandbox.HOST_KIND,
      ...(VS ? { vs: VS } : {}),
      switchoverData: `${SWITCHOVER_DATA_MIB} MiB new file + 1000 new rows per run (full dump and restore of the database)`,
      figures,
      program,
      continuous,
      keepalived,
    };
    mkdirSync(join(__dirname, 'results'), { recursive: true });
    // A run of some parts only does not overwrite the day's full results.
    const parts = process.env.BENCH_PARTS ? `-${[...PARTS].join('-')}` : '';
    // Each run its own file (history stays in bench/results/): <date>-<hhmm UTC>[-parts].json.
    const file = join(__dirname, 'results', `${date.slice(0, 10)}-${date.slice(11, 13)}${date.slice(14, 16)}${parts}.json`);
    writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
    if (continuous?.timeline) spawnSync(process.execPath, [join(__dirname, 'plot.mjs'), file], { stdio: 'inherit' });
    const s2 = (x: number) => x.toFixed(2);
    console.log([
      `Results (${RUNS} runs each, ${date.slice(0, 10)}, ${results.machine.cores} cores), written to ${file}:`,
      '',
      '| what (seconds) | median | min | max | median / keepalived\'s takeover |',
      '|---|---|---|---|---|',
      ...figures.map((f) => `| ${f.what} | ${s2(f.medianS)} | ${s2(f.minS)} | ${s2(f.maxS)} | ${f.ratioToKeepalived ?? ''} |`),
      ...(continuous ? [`| continuous mode: EMERGENCY, slayer killed mid-stream: rows lost (of a row every 20 ms) | ${continuous.emergency.medianRowsLost} | ` +
        `${Math.min(...continuous.emergency.rowsLost)} | ${Math.max(...continuous.emergency.rowsLost)} | |`] : []),
    ].join('\n'));
  } finally {
    watch.stop();
    if (!wasUp) await sandbox.down();
  }
}

main().catch((error: Error) => {
  console.error(error.stack);
  process.exit(1);
});
