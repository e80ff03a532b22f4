// The situations each procedure starts from, as the preflight reads them on the two hosts, and the pair
// the config then declares: shared by the test that compares the engine's dependency graph with the
// model's (test/unit/stepGraph.test.ts) and by the simulator's enumeration (test/support/pairWorld.ts).
import type { ReplicationMode } from '../../model/config';
import { GenerationRecord } from '../../model/generation';
import { NORMAL, Pair, RECOVERY, aloneOn } from '../../model/pairs';
import { HostFacts, Observation, Situation } from '../../model/situation';

export const SERVICE = { ip: '198.51.100.100', device: 'eth0' };
export const MODES: ReplicationMode[] = ['nightly', 'continuous'];

export function answered(address: string, facts: Partial<HostFacts>): Observation {
  return {
    reachable: true,
    facts: {
      status: undefined, record: { switch: 0, served: 0, data: 0 }, holdsServiceIp: false, databaseReadOnly: false,
      interfaceAddresses: [address], missingCommands: [], replicationRunning: false, databaseBytes: 1000, freeBytes: 1 << 30,
      ...facts,
    },
  };
}
export const NO_ANSWER: Observation = { reachable: false, error: 'SSH connection failed: no answer within 5 s' };
const primary = (facts: Partial<HostFacts>) => answered('198.51.100.11/24', facts);
const secondary = (facts: Partial<HostFacts>) => answered('198.51.100.12/24', facts);
const rec = (s: number, served: number, data: number): GenerationRecord => ({ switch: s, served, data });

/** NORMAL as an up leaves it, generation 1. */
const normal = (p: Partial<HostFacts> = {}, s: Partial<HostFacts> = {}): Situation => ({
  observed: {
    primary: primary({ status: 'production', record: rec(1, 1, 1), holdsServiceIp: true, ...p }),
    secondary: secondary({ status: 'standby', record: rec(1, 0, 1), ...s }),
  },
  lastApplied: { pair: NORMAL, generation: 1 },
});
/** The secondary serving alone after an EMERGENCY, generation 2; the primary as it died. */
const aloneOnSecondary = (p: Observation, s: Partial<HostFacts> = {}): Situation => ({
  observed: { primary: p, secondary: secondary({ status: 'production_alone', record: rec(2, 2, 2), holdsServiceIp: true, ...s }) },
  lastApplied: { pair: aloneOn('secondary'), generation: 2, records: { primary: rec(1, 1, 1), secondary: rec(2, 2, 2) } },
});
/** RECOVERY as an up leaves it, generation 3. */
const recovery = (): Situation => ({
  observed: {
    primary: primary({ status: 'production_as_standby', record: rec(3, 1, 2) }),
    secondary: secondary({ status: 'standby_as_production', record: rec(3, 2, 2), holdsServiceIp: true }),
  },
  lastApplied: { pair: RECOVERY, generation: 3 },
});

export interface Scenario {
  name: string;
  situation: Situation;
  next: Pair;
}

/** Every procedure, from the situation the one before it leaves. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'NORMAL, first deployment',
    situation: { observed: { primary: primary({}), secondary: secondary({}) }, lastApplied: undefined },
    next: NORMAL,
  },
  { name: 'NORMAL, no change', situation: normal(), next: NORMAL },
  { name: 'planned switchover', situation: normal(), next: RECOVERY },
  { name: 'planned switchover from a standby still streaming', situation: normal({}, { inRecovery: true }), next: RECOVERY },
  { name: 'EMERGENCY, the primary dead', situation: { ...normal(), observed: { ...normal().observed, primary: NO_ANSWER } }, next: aloneOn('secondary') },
  { name: 'EMERGENCY, the primary sick but answering', situation: normal(), next: aloneOn('secondary') },
  { name: 'RECOVERY', situation: aloneOnSecondary(primary({ status: 'production', record: rec(1, 1, 1) })), next: RECOVERY },
  { name: 'back to NORMAL', situation: recovery(), next: NORMAL },
  // The server lost the service IP while its partner stays dead: the up claims it again (drift).
  { name: 'alone, the address lost', situation: aloneOnSecondary(NO_ANSWER, { holdsServiceIp: false }), next: aloneOn('secondary') },
];
