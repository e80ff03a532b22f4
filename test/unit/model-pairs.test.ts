import { STATUSES, Status, checkPair, roleOf } from '../../model';

describe('what each status means for its host', () => {
  test.each<[Status, boolean, boolean, boolean, string[], string[], boolean, string | undefined]>([
    // status, serves, replicates from other, sends replication, rsync daemons, cron jobs, contacted, mode
    ['down', false, false, false, [], [], false, undefined],
    ['production', true, false, true, ['apollo', 'sounz'], ['dump'], true, 'Normal'],
    ['standby', false, true, false, [], ['pull-and-restore'], true, 'Normal'],
    ['production_alone', true, false, false, ['apollo', 'sounz'], [], true, 'Emergency'],
    ['standby_as_production', true, false, true, ['apollo', 'sounz'], ['dump'], true, 'Recovery'],
    ['production_as_standby', false, true, false, [], ['pull-and-restore'], true, 'Recovery'],
  ])('%s', (status, serves, replicates, sends, daemons, cronJobs, contacted, mode) => {
    expect(roleOf(status)).toMatchObject({
      status,
      servesApplication: serves,
      replicatesFromOther: replicates,
      sendsReplication: sends,
      rsyncDaemons: daemons,
      cronJobs,
      contacted,
      mode,
    });
  });

  test('each status carries the runbook description', () => {
    expect(roleOf('production_as_standby').description).toBe(
      'The former Production server running as Standby, alongside the former Standby server running as Production.',
    );
  });
});

describe('allowed pairs (primary, secondary)', () => {
  test.each<[Status, Status, string, string]>([
    ['production', 'standby', 'NORMAL', 'the primary serves SOUNZ; the secondary, its standby, replicates from it nightly'],
    ['down', 'production_alone', 'EMERGENCY', 'the primary is down; the secondary serves SOUNZ alone'],
    ['production_alone', 'down', 'EMERGENCY', 'the secondary is down; the primary serves SOUNZ alone'],
    [
      'production_as_standby',
      'standby_as_production',
      'RECOVERY',
      'roles reversed: the secondary serves SOUNZ; the repaired primary, its standby, replicates from it nightly',
    ],
  ])('(%s, %s) is %s', (primary, secondary, procedure, description) => {
    expect(checkPair(primary, secondary)).toEqual({ ok: true, procedure, description });
  });

  test('every other pair of the 36 is refused', () => {
    const allowed = STATUSES.flatMap((p) => STATUSES.filter((s) => checkPair(p, s).ok).map((s) => `${p},${s}`));
    expect(allowed).toEqual([
      'down,production_alone',
      'production,standby',
      'production_alone,down',
      'production_as_standby,standby_as_production',
    ]);
  });
});

const use = (name: string, p: Status, s: Status) =>
  `use ${name} (${p}, ${s}): pulumi config set sounz:primaryStatus ${p} && pulumi config set sounz:secondaryStatus ${s}`;
const NORMAL = use('NORMAL', 'production', 'standby');
const RECOVERY = use('RECOVERY', 'production_as_standby', 'standby_as_production');
const PRIMARY_ALONE = use('EMERGENCY', 'production_alone', 'down');
const SECONDARY_ALONE = use('EMERGENCY', 'down', 'production_alone');
const BOTH_SERVING = {
  reason: 'both hosts would serve SOUNZ: two hosts would hold the service IP',
  suggestion: `keep one serving host: if the primary serves, ${NORMAL}; if the secondary serves, ${RECOVERY}`,
};

describe('refused pairs, with the reason and the fix', () => {
  test.each<[string, Status, Status, { reason: string; suggestion: string }]>([
    ['both serving', 'production', 'production', BOTH_SERVING],
    ['both serving alone', 'production_alone', 'production_alone', BOTH_SERVING],
    ['both serving, mixed modes', 'production', 'standby_as_production', BOTH_SERVING],
    [
      'nobody serving: both down',
      'down',
      'down',
      {
        reason: 'both hosts are down: nobody would serve SOUNZ',
        suggestion: `declare the working host production_alone: ${PRIMARY_ALONE}; or ${SECONDARY_ALONE}`,
      },
    ],
    [
      'nobody serving: both standbys',
      'standby',
      'standby',
      { reason: 'both hosts would be standbys: nobody would serve SOUNZ', suggestion: `let the primary serve: ${NORMAL}` },
    ],
    [
      'a standby replicating from a host that is down',
      'down',
      'standby',
      {
        reason: 'the secondary would be standby, replicating from the primary, which is down: nobody would serve SOUNZ',
        suggestion: `switch the secondary to production: ${SECONDARY_ALONE}`,
      },
    ],
    [
      'a recovery standby replicating from a host that is down',
      'production_as_standby',
      'down',
      {
        reason:
          'the primary would be production_as_standby, replicating from the secondary, which is down: nobody would serve SOUNZ',
        suggestion: `switch the primary to production: ${PRIMARY_ALONE}`,
      },
    ],
    [
      '"alongside a working standby" next to a host that is down',
      'production',
      'down',
      {
        reason: 'the primary would be production, which means running alongside a working standby, but the secondary is down',
        suggestion: PRIMARY_ALONE,
      },
    ],
    [
      'the secondary "alongside a working standby" next to a primary that is down',
      'down',
      'standby_as_production',
      {
        reason:
          'the secondary would be standby_as_production, which means running alongside a working standby, but the primary is down',
        suggestion: SECONDARY_ALONE,
      },
    ],
    [
      '"running alone" next to a working standby',
      'production_alone',
      'standby',
      {
        reason:
          'the primary would be production_alone, which means running alone, but the secondary would be standby, working alongside it',
        suggestion: `if the secondary works, ${NORMAL}; if it is down, ${PRIMARY_ALONE}`,
      },
    ],
    [
      'roles reversed with the normal names',
      'standby',
      'production',
      {
        reason:
          'the secondary would serve SOUNZ with the primary as its standby: the runbook names that pair ' +
          'RECOVERY (production_as_standby, standby_as_production), not (standby, production)',
        suggestion: RECOVERY,
      },
    ],
    [
      'RECOVERY names on the wrong machines',
      'standby_as_production',
      'production_as_standby',
      {
        reason:
          'the primary would serve SOUNZ with the secondary as its standby: the runbook names that pair ' +
          'NORMAL (production, standby), not (standby_as_production, production_as_standby)',
        suggestion: NORMAL,
      },
    ],
    [
      'NORMAL and RECOVERY names mixed',
      'production',
      'production_as_standby',
      {
        reason:
          'the primary would serve SOUNZ with the secondary as its standby: the runbook names that pair ' +
          'NORMAL (production, standby), not (production, production_as_standby)',
        suggestion: NORMAL,
      },
    ],
    [
      "RECOVERY step 1's literal wording (the decision in the README)",
      'standby',
      'standby_as_production',
      {
        reason:
          'the repaired primary running as standby is production_as_standby, not standby: RECOVERY step 1 of the runbook says "standby", ' +
          'but the status list defines production_as_standby for exactly this situation, and the replication scripts must know ' +
          'the direction is reversed (README: RECOVERY status decision)',
        suggestion: RECOVERY,
      },
    ],
  ])('%s: (%s, %s)', (_what, primary, secondary, refusal) => {
    expect(checkPair(primary, secondary)).toEqual({ ok: false, ...refusal });
  });
});
