// A partition's split brain and what ends it: slayer cut off while it holds the service IP, a takeover
// by megadeth, then the heal: the time to one holder and the time two MACs answered at the vantage point.
import * as sandbox from '../../sandbox';
import { secondsWithTwoHolders, VantagePoller } from '../../sandbox/vantagePoller';
import type { Engine } from '../../ops/engine';
import { converge, holds, NORMAL, RECOVERY, RUNS, series, sleep } from '../measure';

/** Milliseconds from `since` until exactly one host holds the service IP (`ip addr` on both, every 100 ms). */
async function untilOneHolder(info: sandbox.SandboxInfo, since: number, limitMs = 60_000): Promise<number> {
  for (;;) {
    const held = await Promise.all(sandbox.hostnames.map((h) => holds(h, info.serviceIp)));
    if (held.filter(Boolean).length === 1) return Date.now() - since;
    if (Date.now() - since > limitMs) throw new Error(`two hosts or none held ${info.serviceIp} for ${limitMs / 1000} s`);
    await sleep(100);
  }
}

/**
 * The split brain of a partition and what ends it: slayer cut off while it holds the service IP, a
 * takeover by megadeth (`partitioned`), then the heal. Returns, per run, the time from the heal to one
 * holder and the time the vantage point saw two MACs (samples with two, each from the one before).
 */
export async function partitionRuns(info: sandbox.SandboxInfo, takeOver: () => Promise<void>, restore: () => Promise<void>) {
  const toOneHolder = [];
  const twoMacs = [];
  for (let i = 0; i < RUNS; i++) {
    await sandbox.partition('slayer');
    await takeOver();
    const poller = new VantagePoller(info.serviceIp);
    await sleep(1500);
    const healed = Date.now();
    await sandbox.heal('slayer');
    toOneHolder.push(await untilOneHolder(info, healed));
    await sleep(3000);
    twoMacs.push(Math.round(secondsWithTwoHolders(await poller.stopTimed()) * 1000));
    console.log(`partition healed, run ${i + 1}: one holder after ${toOneHolder[i]} ms; two MACs answered for ${twoMacs[i]} ms`);
    await restore();
  }
  return { toOneHolder: series(toOneHolder), twoMacs: series(twoMacs) };
}

/** The program's guards: EMERGENCY while slayer is cut off, then no up at all until one holder is left. */
export function benchPartition(info: sandbox.SandboxInfo, engine: Engine) {
  return partitionRuns(info,
    () => converge(engine, { primary: 'down', secondary: 'production_alone' }, 'bench: EMERGENCY, slayer cut off'),
    async () => {
      await converge(engine, RECOVERY, 'bench: RECOVERY');
      await converge(engine, NORMAL, 'bench: NORMAL');
    });
}
