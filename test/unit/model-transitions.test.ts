import { Pair, SwitchPlan, describeStep, planSwitch } from '../../model';

const NORMAL: Pair = { primary: 'production', secondary: 'standby' };
const PRIMARY_DOWN: Pair = { primary: 'down', secondary: 'production_alone' };
const SECONDARY_DOWN: Pair = { primary: 'production_alone', secondary: 'down' };
const RECOVERY: Pair = { primary: 'production_as_standby', secondary: 'standby_as_production' };

function planned(previous: Pair | undefined, next: Pair, reachable = {}): SwitchPlan {
  const result = planSwitch(previous, next, reachable);
  if (!result.ok) throw new Error(`refused: ${result.reason}`);
  return result;
}
const stepsOf = (plan: SwitchPlan) => plan.steps.map(describeStep);

describe('the first deployment', () => {
  test('accepts any allowed pair, without a data grab, taking the service IP off the other host first', () => {
    const plan = planned(undefined, NORMAL);
    expect(plan).toMatchObject({ procedure: 'NORMAL', from: undefined, to: 'primary', serviceIpMoves: false, dataGrab: undefined });
    expect(stepsOf(plan)).toEqual([
      'demote the secondary: remove the service IP, set status standby',
      'promote the primary: add the service IP, set status production',
    ]);
  });

  test('leaves an unreachable host declared down alone', () => {
    const plan = planned(undefined, PRIMARY_DOWN, { primary: false });
    expect(plan.procedure).toBe('EMERGENCY');
    expect(plan.untouched).toEqual(['primary']);
    expect(stepsOf(plan)).toEqual(['promote the secondary: add the service IP, set status production_alone']);
  });
});

describe('runbook: NORMAL -> EMERGENCY -> RECOVERY -> NORMAL', () => {
  test('EMERGENCY (3.1): the primary croaks, the secondary takes over', () => {
    const plan = planned(NORMAL, PRIMARY_DOWN);
    expect(plan).toMatchObject({
      procedure: 'EMERGENCY',
      from: 'primary',
      to: 'secondary',
      serviceIpMoves: true,
      dataGrab: { from: 'primary', to: 'secondary', mandatory: false, final: true },
      untouched: [],
    });
    expect(stepsOf(plan)).toEqual([
      "grab the latest data from the primary to the secondary, the primary's database read-only from the final dump on (best effort)",
      'demote the primary: remove the service IP, set status down',
      'promote the secondary: add the service IP, set status production_alone',
    ]);
  });

  test('EMERGENCY with the primary known dead: no grab, the primary is not contacted', () => {
    const plan = planned(NORMAL, PRIMARY_DOWN, { primary: false });
    expect(plan).toMatchObject({ procedure: 'EMERGENCY', dataGrab: undefined, untouched: ['primary'] });
    expect(stepsOf(plan)).toEqual(['promote the secondary: add the service IP, set status production_alone']);
  });

  test('EMERGENCY with the primary still answering: the grab is planned, still not mandatory', () => {
    expect(planned(NORMAL, PRIMARY_DOWN, { primary: true }).dataGrab).toEqual({ from: 'primary', to: 'secondary', mandatory: false, final: true });
  });

  test('RECOVERY (3.2 steps 1-2): the repaired primary becomes the standby; the service IP stays', () => {
    const plan = planned(PRIMARY_DOWN, RECOVERY);
    expect(plan).toMatchObject({
      procedure: 'RECOVERY',
      from: 'secondary',
      to: 'secondary',
      serviceIpMoves: false,
      dataGrab: { from: 'secondary', to: 'primary', mandatory: false, final: false },
    });
    expect(stepsOf(plan)).toEqual([
      'grab the latest data from the secondary to the primary (best effort)',
      'set the status of the primary to production_as_standby',
      'set the status of the secondary to standby_as_production',
    ]);
  });

  test('back to NORMAL (3.2 steps 3-5): final grab while the secondary serves read-only, demote it, promote the primary', () => {
    const plan = planned(RECOVERY, NORMAL);
    expect(plan).toMatchObject({
      procedure: 'back to NORMAL',
      from: 'secondary',
      to: 'primary',
      serviceIpMoves: true,
      dataGrab: { from: 'secondary', to: 'primary', mandatory: true, final: true },
    });
    expect(stepsOf(plan)).toEqual([
      "grab the latest data from the secondary to the primary, the secondary's database read-only from the final dump on" +
        ' (if it fails, the secondary takes writes again and keeps serving)',
      'demote the secondary: remove the service IP, set status standby',
      'promote the primary: add the service IP, set status production',
    ]);
  });
});

describe('runbook: the planned switchover', () => {
  test('NORMAL -> RECOVERY directly: mandatory final grab, then demote before promote', () => {
    const plan = planned(NORMAL, RECOVERY);
    expect(plan).toMatchObject({
      procedure: 'planned switchover',
      from: 'primary',
      to: 'secondary',
      serviceIpMoves: true,
      dataGrab: { from: 'primary', to: 'secondary', mandatory: true, final: true },
    });
    expect(plan.steps.map((s) => s.kind)).toEqual(['grab', 'demote', 'promote']);
    expect(stepsOf(plan)).toEqual([
      "grab the latest data from the primary to the secondary, the primary's database read-only from the final dump on" +
        ' (if it fails, the primary takes writes again and keeps serving)',
      'demote the primary: remove the service IP, set status production_as_standby',
      'promote the secondary: add the service IP, set status standby_as_production',
    ]);
  });
});

describe('runbook: the secondary dying', () => {
  test('NORMAL -> (production_alone, down): no IP move, the dead secondary is set down if it answers', () => {
    const plan = planned(NORMAL, SECONDARY_DOWN);
    expect(plan).toMatchObject({ procedure: 'secondary failed', from: 'primary', to: 'primary', serviceIpMoves: false, dataGrab: undefined });
    expect(stepsOf(plan)).toEqual([
      'set the status of the secondary to down',
      'set the status of the primary to production_alone',
    ]);
    expect(planned(NORMAL, SECONDARY_DOWN, { secondary: false }).untouched).toEqual(['secondary']);
  });

  test('(production_alone, down) -> NORMAL: the repaired secondary catches up and becomes the standby again', () => {
    const plan = planned(SECONDARY_DOWN, NORMAL);
    expect(plan).toMatchObject({
      procedure: 'secondary repaired',
      serviceIpMoves: false,
      dataGrab: { from: 'primary', to: 'secondary', mandatory: false },
    });
    expect(stepsOf(plan)).toEqual([
      'grab the latest data from the primary to the secondary (best effort)',
      'set the status of the secondary to standby',
      'set the status of the primary to production',
    ]);
  });
});

describe('failures during RECOVERY', () => {
  test('the serving secondary croaks: its standby, the primary, takes over', () => {
    const plan = planned(RECOVERY, SECONDARY_DOWN);
    expect(plan).toMatchObject({ procedure: 'EMERGENCY', from: 'secondary', to: 'primary', serviceIpMoves: true });
    expect(plan.steps.map((s) => s.kind)).toEqual(['grab', 'demote', 'promote']);
  });

  test('the repaired primary croaks again', () => {
    const plan = planned(RECOVERY, PRIMARY_DOWN);
    expect(plan).toMatchObject({ procedure: 'primary failed', serviceIpMoves: false, dataGrab: undefined });
  });
});

test('the same pair again is no change', () => {
  expect(planned(PRIMARY_DOWN, PRIMARY_DOWN)).toMatchObject({ procedure: 'no change', steps: [], untouched: ['primary'] });
  // A dead primary that answers again is contacted, so that it lets go of a service IP it came back with.
  expect(planned(PRIMARY_DOWN, PRIMARY_DOWN, { primary: true })).toMatchObject({ procedure: 'no change', untouched: [] });
  expect(planned(PRIMARY_DOWN, PRIMARY_DOWN, { primary: false })).toMatchObject({ procedure: 'no change', untouched: ['primary'] });
});

const use = (name: string, p: string, s: string) =>
  `use ${name} (${p}, ${s}): pulumi config set sounz:primaryStatus ${p} && pulumi config set sounz:secondaryStatus ${s}`;

describe('refused transitions', () => {
  test.each<[string, Pair | undefined, Pair, object, string, string]>([
    [
      'EMERGENCY straight to NORMAL would throw away what the secondary served',
      PRIMARY_DOWN,
      NORMAL,
      {},
      'the primary would serve SOUNZ, but in the pair the hosts are in, (down, production_alone), it is down, not the standby of the secondary: ' +
        'it does not have what the secondary served since, and promoting it would throw that away',
      `first make the primary the standby of the secondary: ${use('RECOVERY', 'production_as_standby', 'standby_as_production')}; pulumi up; then (production, standby)`,
    ],
    [
      'the repaired primary declared straight production_alone',
      PRIMARY_DOWN,
      SECONDARY_DOWN,
      {},
      'the primary would serve SOUNZ, but in the pair the hosts are in, (down, production_alone), it is down, not the standby of the secondary: ' +
        'it does not have what the secondary served since, and promoting it would throw that away',
      `first make the primary the standby of the secondary: ${use('RECOVERY', 'production_as_standby', 'standby_as_production')}; pulumi up; then (production_alone, down)`,
    ],
    [
      'the repaired secondary switched straight to RECOVERY',
      SECONDARY_DOWN,
      RECOVERY,
      {},
      'the secondary would serve SOUNZ, but in the pair the hosts are in, (production_alone, down), it is down, not the standby of the primary: ' +
        'it does not have what the primary served since, and promoting it would throw that away',
      `first make the secondary the standby of the primary: ${use('NORMAL', 'production', 'standby')}; pulumi up; then (production_as_standby, standby_as_production)`,
    ],
    [
      'a planned switchover from an unreachable primary',
      NORMAL,
      RECOVERY,
      { primary: false },
      'the primary is unreachable, and a planned switch needs the final data grab from it ("grab the latest data from Production") before the secondary is promoted',
      `if the primary is dead, declare it down: ${use('EMERGENCY', 'down', 'production_alone')}`,
    ],
    [
      'back to NORMAL from an unreachable secondary',
      RECOVERY,
      NORMAL,
      { secondary: false },
      'the secondary is unreachable, and a planned switch needs the final data grab from it ("grab the latest data from Production") before the primary is promoted',
      `if the secondary is dead, declare it down: ${use('EMERGENCY', 'production_alone', 'down')}`,
    ],
    [
      'promoting an unreachable standby',
      NORMAL,
      PRIMARY_DOWN,
      { secondary: false },
      'the secondary is unreachable, but its next status production_alone needs it working',
      `fix SSH access to the secondary, or declare it down: ${use('EMERGENCY', 'production_alone', 'down')}`,
    ],
    [
      'a refused next pair',
      NORMAL,
      { primary: 'production', secondary: 'production' },
      {},
      '(production, production) is not allowed: both hosts would serve SOUNZ: two hosts would hold the service IP',
      `keep one serving host: if the primary serves, ${use('NORMAL', 'production', 'standby')}; if the secondary serves, ${use('RECOVERY', 'production_as_standby', 'standby_as_production')}`,
    ],
    [
      'the runbook\'s literal RECOVERY step 1, on the first deployment too',
      undefined,
      { primary: 'standby', secondary: 'standby_as_production' },
      {},
      '(standby, standby_as_production) is not allowed: the repaired primary running as standby is production_as_standby, not standby: ' +
        'RECOVERY step 1 of the runbook says "standby", but the status list defines production_as_standby for exactly this situation, ' +
        'and the replication scripts must know the direction is reversed (README: RECOVERY status decision)',
      use('RECOVERY', 'production_as_standby', 'standby_as_production'),
    ],
    [
      'a last applied pair that is not allowed',
      { primary: 'standby', secondary: 'standby' },
      NORMAL,
      {},
      'the pair the hosts are in, (standby, standby), is not an allowed pair: it was not written by this program',
      "check the stack state (pulumi stack export) and the hosts' /etc/sounz/sounz.status by hand",
    ],
  ])('%s', (_what, previous, next, reachable, reason, suggestion) => {
    expect(planSwitch(previous, next, reachable)).toEqual({ ok: false, reason, suggestion });
  });
});

test('the service IP is never on two hosts, and the grab comes before the old host lets go: grab, demote, promote', () => {
  const pairs = [NORMAL, PRIMARY_DOWN, SECONDARY_DOWN, RECOVERY];
  for (const previous of pairs) {
    for (const next of pairs) {
      const result = planSwitch(previous, next);
      if (!result.ok || !result.serviceIpMoves) continue;
      const kinds = result.steps.map((s) => s.kind);
      expect(kinds.indexOf('demote')).toBeLessThan(kinds.indexOf('promote'));
      if (kinds.includes('grab')) expect(kinds.indexOf('grab')).toBeLessThan(kinds.indexOf('demote'));
    }
  }
});
