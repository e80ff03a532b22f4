// Continuous replication in the model: the config keys (issue 14) and each host's part per procedure.
import { ConfigError, continuousSettings, keptToPrune, NORMAL, RECOVERY, aloneOn, cronJobsOf, parseStackConfig, planSwitch, problemText, roleOf, streamingParts } from '../../model';
import type { Pair, SwitchPlan } from '../../model';

import { BASE } from '../support/stackConfig';

const PASSWORD = 'Zq3.vT8_~kL+2/mW=x-9';

function problemsOf(replication: Record<string, unknown>, secretKeys: string[] = ['replication']): string[] {
  try {
    parseStackConfig({ ...BASE, replication }, secretKeys);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(problemText);
    throw e;
  }
  return [];
}

describe('sounz:replication.mode', () => {
  test('is nightly by default, with the files every five minutes when continuous', () => {
    const config = parseStackConfig(BASE);
    expect(continuousSettings(config)).toEqual({ mode: 'nightly', filesSchedule: '*/5 * * * *', keepDataDirectories: 3, maxSlotWalKeepSize: 1024 });
    expect(config.replication.password).toBeUndefined();
  });

  test('continuous with a secret password is accepted', () => {
    expect(problemsOf({ mode: 'continuous', password: PASSWORD, filesSchedule: '*/2 * * * *' })).toEqual([]);
  });

  test('continuous without a password is refused with the secret way to set one', () => {
    expect(problemsOf({ mode: 'continuous' }, [])).toEqual([
      "sounz:replication.password is not set: continuous replication needs the replication role's password, as a secret. " +
        "Fix: pulumi config set --secret --path 'sounz:replication.password' < password-file",
    ]);
  });

  test('a password stored in plaintext is refused, and never quoted', () => {
    const problems = problemsOf({ mode: 'continuous', password: PASSWORD }, []);
    expect(problems).toEqual([
      'sounz:replication.password = (secret): is stored in plaintext in the stack config; it must be a secret. ' +
        "Fix: pulumi config set --secret --path 'sounz:replication.password' < password-file",
    ]);
  });

  test('a password of the wrong form is named, not quoted, even when the section is not secret', () => {
    const problems = problemsOf({ mode: 'continuous', password: "it's:short" }, []).join('\n');
    expect(problems).toContain('sounz:replication.password = (secret): expected a password of 16 to 128 characters');
    expect(problems).not.toContain("it's");
  });

  test('keepDataDirectories: an integer from 1, 3 by default', () => {
    expect(continuousSettings(parseStackConfig({ ...BASE, replication: { keepDataDirectories: '1' } })).keepDataDirectories).toBe(1);
    expect(problemsOf({ keepDataDirectories: 0 }, [])).toEqual([
      'sounz:replication.keepDataDirectories = 0: expected a number of data directories, an integer from 1 to 100. ' +
        "Fix: pulumi config set --path 'sounz:replication.keepDataDirectories' 3",
    ]);
  });

  test('an unknown mode is refused with the two there are', () => {
    expect(problemsOf({ mode: 'streaming' }, [])[0]).toBe(
      'sounz:replication.mode = "streaming": expected one of nightly (the runbook: a copy every night), ' +
        'continuous (PostgreSQL streaming replication). Fix: pulumi config set --path \'sounz:replication.mode\' nightly');
  });
});

describe('each host\'s part in streaming replication', () => {
  const plan = (previous: Pair, next: Pair, reachable = {}) => {
    const p = planSwitch(previous, next, reachable);
    if (!p.ok) throw new Error(p.reason);
    return p as SwitchPlan;
  };

  test('NORMAL: slayer writes, megadeth streams from it', () => {
    expect(streamingParts(plan(NORMAL, NORMAL), NORMAL)).toEqual({
      primary: { role: 'primary', handoverFrom: undefined, handoverMandatory: false, upstream: undefined, rebuild: false },
      secondary: { role: 'standby', handoverFrom: undefined, handoverMandatory: false, upstream: 'primary', rebuild: false },
    });
  });

  test('planned switchover: megadeth is promoted after the handover from slayer, which then follows it', () => {
    expect(streamingParts(plan(NORMAL, RECOVERY), RECOVERY)).toEqual({
      secondary: { role: 'primary', handoverFrom: 'primary', handoverMandatory: true, upstream: undefined, rebuild: false },
      primary: { role: 'standby', handoverFrom: undefined, handoverMandatory: false, upstream: 'secondary', rebuild: false },
    });
  });

  test('EMERGENCY, slayer dead: megadeth is promoted at once, slayer untouched', () => {
    const parts = streamingParts(plan(NORMAL, aloneOn('secondary'), { primary: false }), aloneOn('secondary'));
    expect(parts).toEqual({
      secondary: { role: 'primary', handoverFrom: undefined, handoverMandatory: false, upstream: undefined, rebuild: false },
    });
  });

  test('EMERGENCY, slayer still answering: a best-effort handover, slayer stops streaming', () => {
    const parts = streamingParts(plan(NORMAL, aloneOn('secondary'), { primary: true }), aloneOn('secondary'));
    expect(parts.secondary).toMatchObject({ role: 'primary', handoverFrom: 'primary', handoverMandatory: false });
    expect(parts.primary).toMatchObject({ role: 'off' });
  });

  test('RECOVERY: the repaired slayer is rebuilt as the standby of megadeth', () => {
    expect(streamingParts(plan(aloneOn('secondary'), RECOVERY), RECOVERY)).toEqual({
      secondary: { role: 'primary', handoverFrom: undefined, handoverMandatory: false, upstream: undefined, rebuild: false },
      primary: { role: 'standby', handoverFrom: undefined, handoverMandatory: false, upstream: 'secondary', rebuild: true },
    });
  });

  test('the standby pulls only the files in continuous mode; the server dumps nightly in both modes', () => {
    expect(cronJobsOf(roleOf('standby').cronJobs, 'continuous')).toEqual(['pull-files']);
    expect(cronJobsOf(roleOf('production').cronJobs, 'continuous')).toEqual(['dump']);
    expect(cronJobsOf(roleOf('standby').cronJobs, 'nightly')).toEqual(['pull-and-restore']);
  });
});

describe('the kept data directories a rebuild leaves', () => {
  const kept = (stamp: string, g: number) => `/var/lib/postgresql/15/main.kept-${stamp}-g${g}`;
  const [a, b, c, d] = [kept('20250101-020000', 1), kept('20250102-020000', 2), kept('20250103-020000', 3), kept('20250104-020000', 4)];

  test('the oldest go beyond the number to keep, the one just kept counted and never among them', () => {
    expect(keptToPrune([c, a, d, b], 3, d)).toEqual([a]);
    expect(keptToPrune([c, a, d, b], 1, d)).toEqual([a, b, c]);
    // A host whose clock went back: the one just kept sorts first, and stays.
    expect(keptToPrune([a, b, c], 1, a)).toEqual([b, c]);
  });

  test('nothing goes while there are no more than the number; a rebuild that kept nothing keeps that many', () => {
    expect(keptToPrune([a, b, c], 3, c)).toEqual([]);
    expect(keptToPrune([], 1, undefined)).toEqual([]);
    expect(keptToPrune([b, a, c], 2, undefined)).toEqual([a]);
  });
});
