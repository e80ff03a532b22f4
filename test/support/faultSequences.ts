// Generated sequences of config changes and faults, shared by the pure property test (a model of two
// hosts driven by the real planner, test/unit/switching-model.test.ts) and the seeded chaos test through
// the real engine on the sandbox (test/integration/chaos.test.ts).
import * as fc from 'fast-check';
import { Pair } from '../../model/pairs';
import { HOSTS, Host, STATUSES } from '../../model/statuses';

export type Fault =
  | 'kill' // the host dies: processes gone, the service IP with them; disks kept
  | 'revive' // it boots again (without the service IP, or with it when `withServiceIp`)
  | 'partition' // cut off the LAN, still running
  | 'heal'
  | 'stop-sshd' // the host runs but the program cannot log in (sshd stopped, host key changed)
  | 'start-sshd'
  | 'break-check' // a post-switch check on this host fails (a mongrel stopped)
  | 'mend-check';

export type Action =
  | { kind: 'up'; pair: Pair; interruptAfter?: number }
  | { kind: 'fault'; fault: Fault; host: Host; withServiceIp?: boolean }
  | { kind: 'write' };

const host = fc.constantFrom<Host>(...HOSTS);
const status = fc.constantFrom(...STATUSES);
/** Mostly the runbook's allowed pairs, sometimes any pair (refusals are part of the sequence). */
const allowedPair = fc.constantFrom<Pair>(
  { primary: 'production', secondary: 'standby' },
  { primary: 'down', secondary: 'production_alone' },
  { primary: 'production_alone', secondary: 'down' },
  { primary: 'production_as_standby', secondary: 'standby_as_production' },
);
const anyPair = fc.record({ primary: status, secondary: status });

export interface SequenceOptions {
  /** Faults the target can produce (the sandbox has no host-key change, say). */
  faults?: readonly Fault[];
  /** Steps of an `up` after which it may be interrupted; none: never. */
  interruptible?: boolean;
  maxLength?: number;
}

export function actionArbitrary(options: SequenceOptions = {}): fc.Arbitrary<Action> {
  const faults = options.faults ?? ['kill', 'revive', 'partition', 'heal', 'stop-sshd', 'start-sshd', 'break-check', 'mend-check'];
  const up = fc.record({
    kind: fc.constant('up' as const),
    pair: fc.oneof({ weight: 5, arbitrary: allowedPair }, { weight: 1, arbitrary: anyPair }),
    ...(options.interruptible ? { interruptAfter: fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined, freq: 4 }) } : {}),
  }, { requiredKeys: ['kind', 'pair'] }) as fc.Arbitrary<Action>;
  const fault = fc.record({
    kind: fc.constant('fault' as const),
    fault: fc.constantFrom(...faults),
    host,
    withServiceIp: fc.boolean(),
  });
  return fc.oneof({ weight: 4, arbitrary: up }, { weight: 3, arbitrary: fault }, { weight: 2, arbitrary: fc.constant({ kind: 'write' as const }) });
}

/** A sequence starts from NORMAL deployed; the rest is generated. */
export function sequenceArbitrary(options: SequenceOptions = {}): fc.Arbitrary<Action[]> {
  return fc.array(actionArbitrary(options), { minLength: 1, maxLength: options.maxLength ?? 12 });
}

export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'up':
      return `up (${action.pair.primary}, ${action.pair.secondary})` +
        (action.interruptAfter === undefined ? '' : ` interrupted after step ${action.interruptAfter}`);
    case 'fault':
      return `${action.fault} ${action.host}${action.fault === 'revive' && action.withServiceIp ? ' (with the service IP)' : ''}`;
    case 'write':
      return 'a client writes';
  }
}
