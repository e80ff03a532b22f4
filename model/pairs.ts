/**
 * Which (primary status, secondary status) pairs the runbook allows, and why every other pair is
 * refused. Exactly one host serves SOUNZ in every allowed pair.
 */
import { HOSTS, Host, Status, otherHost, roleOf } from './statuses';

export interface Pair {
  primary: Status;
  secondary: Status;
}

export type PairProcedure = 'NORMAL' | 'EMERGENCY' | 'RECOVERY';

export type PairCheck =
  | { ok: true; procedure: PairProcedure; description: string }
  | { ok: false; reason: string; suggestion: string };

export const NORMAL: Pair = { primary: 'production', secondary: 'standby' };
export const RECOVERY: Pair = { primary: 'production_as_standby', secondary: 'standby_as_production' };

/** EMERGENCY: `host` serves alone, the other host is down. */
export function aloneOn(host: Host): Pair {
  return host === 'primary'
    ? { primary: 'production_alone', secondary: 'down' }
    : { primary: 'down', secondary: 'production_alone' };
}

/** The working pair in which `host` serves and the other host is its standby. */
export function servedBy(host: Host): Pair {
  return host === 'primary' ? NORMAL : RECOVERY;
}

const ALLOWED: ReadonlyArray<{ pair: Pair; procedure: PairProcedure; description: string }> = [
  {
    pair: NORMAL,
    procedure: 'NORMAL',
    description: 'the primary serves SOUNZ; the secondary, its standby, replicates from it nightly',
  },
  {
    pair: aloneOn('secondary'),
    procedure: 'EMERGENCY',
    description: 'the primary is down; the secondary serves SOUNZ alone',
  },
  {
    pair: aloneOn('primary'),
    procedure: 'EMERGENCY',
    description: 'the secondary is down; the primary serves SOUNZ alone',
  },
  {
    pair: RECOVERY,
    procedure: 'RECOVERY',
    description: 'roles reversed: the secondary serves SOUNZ; the repaired primary, its standby, replicates from it nightly',
  },
];

export function samePair(a: Pair, b: Pair): boolean {
  return a.primary === b.primary && a.secondary === b.secondary;
}

export function pairText(pair: Pair): string {
  return `(${pair.primary}, ${pair.secondary})`;
}

/** "NORMAL (production, standby)" */
function pairName(pair: Pair): string {
  const allowed = ALLOWED.find((a) => samePair(a.pair, pair));
  return allowed ? `${allowed.procedure} ${pairText(pair)}` : pairText(pair);
}

/** "use NORMAL (production, standby): pulumi config set ... && pulumi config set ..." */
export function usePair(pair: Pair): string {
  return (
    `use ${pairName(pair)}: pulumi config set sounz:primaryStatus ${pair.primary}` +
    ` && pulumi config set sounz:secondaryStatus ${pair.secondary}`
  );
}

/** The host that serves SOUNZ in an allowed pair. */
export function servingHost(pair: Pair): Host {
  const host = HOSTS.find((h) => roleOf(pair[h]).servesApplication);
  if (host === undefined) throw new Error(`nobody serves in ${pairText(pair)}: check the pair first`);
  return host;
}

export function checkPair(primaryStatus: Status, secondaryStatus: Status): PairCheck {
  const pair = { primary: primaryStatus, secondary: secondaryStatus };
  const allowed = ALLOWED.find((a) => samePair(a.pair, pair));
  if (allowed) return { ok: true, procedure: allowed.procedure, description: allowed.description };
  return { ok: false, ...refusal(pair) };
}

function refusal(pair: Pair): { reason: string; suggestion: string } {
  const serving = HOSTS.filter((h) => roleOf(pair[h]).servesApplication);

  if (serving.length === 2) {
    return {
      reason: 'both hosts would serve SOUNZ: two hosts would hold the service IP',
      suggestion:
        `keep one serving host: if the primary serves, ${usePair(NORMAL)}; ` +
        `if the secondary serves, ${usePair(RECOVERY)}`,
    };
  }

  if (serving.length === 0) {
    const down = HOSTS.filter((h) => pair[h] === 'down');
    if (down.length === 2) {
      return {
        reason: 'both hosts are down: nobody would serve SOUNZ',
        suggestion:
          `declare the working host production_alone: ${usePair(aloneOn('primary'))}; ` +
          `or ${usePair(aloneOn('secondary'))}`,
      };
    }
    if (down.length === 1) {
      const dead = down[0];
      const live = otherHost(dead);
      return {
        reason: `the ${live} would be ${pair[live]}, replicating from the ${dead}, which is down: nobody would serve SOUNZ`,
        suggestion: `switch the ${live} to production: ${usePair(aloneOn(live))}`,
      };
    }
    return {
      reason: 'both hosts would be standbys: nobody would serve SOUNZ',
      suggestion: `let the primary serve: ${usePair(NORMAL)}`,
    };
  }

  const server = serving[0];
  const partner = otherHost(server);

  if (pair[partner] === 'down') {
    return {
      reason: `the ${server} would be ${pair[server]}, which means running alongside a working standby, but the ${partner} is down`,
      suggestion: usePair(aloneOn(server)),
    };
  }

  if (pair[server] === 'production_alone') {
    return {
      reason: `the ${server} would be production_alone, which means running alone, but the ${partner} would be ${pair[partner]}, working alongside it`,
      suggestion:
        `if the ${partner} works, ${usePair(servedBy(server))}; ` + `if it is down, ${usePair(aloneOn(server))}`,
    };
  }

  // A serving host with a working standby, but with the other mode's or the other machine's names.
  const expected = servedBy(server);
  if (pair.primary === 'standby' && pair.secondary === 'standby_as_production') {
    return {
      reason:
        'the repaired primary running as standby is production_as_standby, not standby: ' +
        'RECOVERY step 1 of the runbook says "standby", but the status list defines production_as_standby ' +
        'for exactly this situation, and the replication scripts must know the direction is reversed (README: RECOVERY status decision)',
      suggestion: usePair(RECOVERY),
    };
  }
  return {
    reason:
      `the ${server} would serve SOUNZ with the ${partner} as its standby: ` +
      `the runbook names that pair ${pairName(expected)}, not ${pairText(pair)}`,
    suggestion: usePair(expected),
  };
}
