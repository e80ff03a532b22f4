// Faults at every step boundary, exhaustively: for every procedure (test/support/procedures.ts), both
// replication modes, every step of the switch's graph (model/stepGraph.ts) as the simulator executes it
// (test/support/pairWorld.ts), each fault that can happen there on each host; then the fault is
// repaired as the operator would and the up run again. Invariants: one holder at most; never dark
// without NOBODY SERVES; no newer data replaced without a kept copy; what the failed step's graph entry
// says it leaves is what it leaves; the re-run converges, statuses agreeing with who holds the address.
import { HOSTS, Host } from '../../model/statuses';
import { PairWorld, STEP_FAULTS, StepFault } from '../support/pairWorld';
import { MODES, SCENARIOS } from '../support/procedures';

interface Case { mode: string; scenario: string; before: number; fault: StepFault; host: Host }

test('faults at every step boundary of every procedure in both modes keep every invariant, and the re-run converges', () => {
  const started = Date.now();
  const found: string[] = [];
  let cases = 0;
  for (const mode of MODES) {
    for (const scenario of SCENARIOS) {
      const clean = new PairWorld(mode, scenario.situation).up(scenario.next);
      expect({ scenario: scenario.name, mode, result: clean.result }).toEqual({ scenario: scenario.name, mode, result: 'succeeded' });
      const alive = HOSTS.filter((h) => scenario.situation.observed[h].reachable);
      for (let before = 0; before <= clean.ran!.length; before++) {
        for (const fault of STEP_FAULTS) {
          // The command's failure and the killed up are not a host's.
          for (const host of fault === 'command-fails' || fault === 'up-killed' ? ['primary' as Host] : alive) {
            const c: Case = { mode, scenario: scenario.name, before, fault, host };
            cases++;
            const world = new PairWorld(mode, scenario.situation);
            world.write();
            const first = world.up(scenario.next, { before, fault, host });
            world.write();
            world.repair({ fault, host });
            const rerun = world.up(scenario.next);
            world.write();
            if (rerun.result !== 'succeeded') world.violations.push(`the re-run did not converge: ${rerun.result}: ${rerun.message}`);
            for (const v of world.violations) {
              found.push(`${c.scenario} (${c.mode}), ${c.fault} on the ${c.host} before step ${c.before} ` +
                `[${first.ran?.join(' ')}] (${first.result}: ${first.message}): ${v}`);
            }
          }
        }
      }
    }
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`step-boundary faults: ${cases} cases in ${seconds.toFixed(2)} s; ${found.length} violations`);
  expect(found).toEqual([]);
});
