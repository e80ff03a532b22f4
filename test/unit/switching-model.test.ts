// Generated sequences of config changes and faults through the real planner and the switch's step graph,
// executed by the simulator of the two hosts (test/support/pairWorld.ts): after every step, the invariants hold. A failure prints its seed
// and the shrunk sequence; replay with SOUNZ_MODEL_SEED=<seed>.
import * as fc from 'fast-check';
import { describeAction, sequenceArbitrary } from '../support/faultSequences';
import { PairWorld } from '../support/pairWorld';

const RUNS = 10_000;
const seed = process.env.SOUNZ_MODEL_SEED === undefined ? Date.now() : Number(process.env.SOUNZ_MODEL_SEED);

test(`${RUNS} generated sequences of switches and faults keep every invariant (seed ${seed})`, () => {
  let ups = 0;
  fc.assert(fc.property(sequenceArbitrary({ interruptible: true }), (actions) => {
    const world = new PairWorld();
    for (const action of actions) {
      if (world.apply(action)) ups++;
      if (world.violations.length > 0) {
        throw new Error(`${world.violations.join('\n')}\nsequence: ${actions.map(describeAction).join(' -> ')}`);
      }
    }
  }), { numRuns: RUNS, seed });
  expect(ups).toBeGreaterThan(RUNS);
});

test('the model catches what the planner once did: a re-run after a failed EMERGENCY restored stale data over the live server', () => {
  const world = new PairWorld();
  world.apply({ kind: 'write' });
  world.apply({ kind: 'fault', fault: 'break-check', host: 'secondary' });
  world.apply({ kind: 'fault', fault: 'kill', host: 'primary' });
  expect(world.apply({ kind: 'up', pair: { primary: 'down', secondary: 'production_alone' } })?.result).toBe('failed');
  world.apply({ kind: 'write' });
  world.apply({ kind: 'fault', fault: 'mend-check', host: 'secondary' });
  world.apply({ kind: 'fault', fault: 'revive', host: 'primary' });
  const rerun = world.apply({ kind: 'up', pair: { primary: 'down', secondary: 'production_alone' } });
  expect(rerun).toMatchObject({ result: 'succeeded', plan: { dataGrab: undefined } });
  // Write 1 was never replicated (EMERGENCY loses it, as the runbook does); write 2, made since, stays.
  expect(world.hosts.secondary.writes).toEqual([2]);
  expect(world.violations).toEqual([]);
});
