/**
 * Planning a switch from the pair the hosts are in (situation.ts) to the pair the config now declares.
 *
 * The principle: never lose data the runbook would have kept. A host is promoted to serve only if it
 * already serves or was the standby of the host that serves; the old host is demoted before the new
 * one is promoted, so the service IP is never on two hosts; and before that, the latest data is
 * grabbed from the host that served ("grab the latest data from Production").
 */
import { NORMAL, Pair, RECOVERY, aloneOn, checkPair, pairText, samePair, servedBy, servingHost, usePair } from './pairs';
import { HOSTS, Host, Status, otherHost, roleOf } from './statuses';

export interface DataGrab {
  from: Host;
  to: Host;
  /** Not mandatory: best effort, skipped if `from` does not answer; a failure does not stop the switch. */
  mandatory: boolean;
  /** The final grab before the service moves: `from` takes no more writes from its final dump on. */
  final: boolean;
}

/** Steps that set a host's status to `down` run only if the host answers the reachability probe. */
export type Step =
  | ({ kind: 'grab' } & DataGrab)
  | { kind: 'demote'; host: Host; status: Status } // remove the service IP, then set the status
  | { kind: 'promote'; host: Host; status: Status } // add the service IP, then set the status
  | { kind: 'set-status'; host: Host; status: Status };

export type Procedure =
  | 'NORMAL'
  | 'EMERGENCY'
  | 'RECOVERY'
  | 'back to NORMAL'
  | 'planned switchover'
  | 'primary failed'
  | 'secondary failed'
  | 'secondary repaired'
  | 'no change';

export interface SwitchPlan {
  ok: true;
  procedure: Procedure;
  /** The host that serves before; undefined on the first deployment. */
  from: Host | undefined;
  /** The host that serves after. */
  to: Host;
  serviceIpMoves: boolean;
  dataGrab: DataGrab | undefined;
  steps: Step[];
  /** Hosts declared down that did not answer the probe (or, unprobed, were down already): not contacted at all. */
  untouched: Host[];
}

export interface SwitchRefusal {
  ok: false;
  reason: string;
  suggestion: string;
}

export interface Reachability {
  primary?: boolean;
  secondary?: boolean;
}

export function planSwitch(
  previous: Pair | undefined,
  next: Pair,
  reachable: Reachability = {},
): SwitchPlan | SwitchRefusal {
  const nextCheck = checkPair(next.primary, next.secondary);
  if (!nextCheck.ok) {
    return { ok: false, reason: `${pairText(next)} is not allowed: ${nextCheck.reason}`, suggestion: nextCheck.suggestion };
  }
  const to = servingHost(next);
  // A host declared down is left alone when it does not answer (or, unprobed, was down already). One that
  // answers is contacted: it may have come back holding the service IP, which it must let go.
  const untouched = HOSTS.filter((h) => next[h] === 'down' &&
    (reachable[h] === false || (reachable[h] === undefined && previous?.[h] === 'down')));

  if (previous === undefined) {
    // First deployment: where the service IP is now is unknown, so take it off the other host first.
    const partner = otherHost(to);
    const steps: Step[] = [];
    if (!untouched.includes(partner)) steps.push({ kind: 'demote', host: partner, status: next[partner] });
    steps.push({ kind: 'promote', host: to, status: next[to] });
    return refuseUnreachable(next, reachable) ?? plan(nextCheck.procedure, undefined, to, false, undefined, steps, untouched);
  }
  if (!checkPair(previous.primary, previous.secondary).ok) {
    return {
      ok: false,
      reason: `the pair the hosts are in, ${pairText(previous)}, is not an allowed pair: it was not written by this program`,
      suggestion: "check the stack state (pulumi stack export) and the hosts' /etc/sounz/sounz.status by hand",
    };
  }
  const from = servingHost(previous);
  if (samePair(previous, next)) return plan('no change', from, to, false, undefined, [], untouched);
  return from === to
    ? keepServing(previous, next, reachable, untouched)
    : moveService(previous, next, reachable, untouched);
}

/** The service moves from the host that served to its standby. */
function moveService(previous: Pair, next: Pair, reachable: Reachability, untouched: Host[]): SwitchPlan | SwitchRefusal {
  const from = servingHost(previous);
  const to = otherHost(from);
  if (!roleOf(previous[to]).replicatesFromOther) {
    return {
      ok: false,
      reason:
        `the ${to} would serve SOUNZ, but in the pair the hosts are in, ${pairText(previous)}, it is ${previous[to]}, ` +
        `not the standby of the ${from}: it does not have what the ${from} served since, and promoting it would throw that away`,
      suggestion: `first make the ${to} the standby of the ${from}: ${usePair(servedBy(from))}; pulumi up; then ${pairText(next)}`,
    };
  }
  // A planned switch keeps the serving host working, so all its data must come along;
  // in an EMERGENCY the dead host gives what it can.
  const mandatory = next[from] !== 'down';
  if (mandatory && reachable[from] === false) {
    return {
      ok: false,
      reason:
        `the ${from} is unreachable, and a planned switch needs the final data grab from it ` +
        `("grab the latest data from Production") before the ${to} is promoted`,
      suggestion: `if the ${from} is dead, declare it down: ${usePair(aloneOn(to))}`,
    };
  }
  const grab = reachable[from] === false ? undefined : { from, to, mandatory, final: true };
  // The grab runs while the old host still holds the service IP, its database read-only: nothing is
  // written there after the final dump (RPO 0 for a planned switch), the site keeps answering, and a
  // failed grab leaves the old host serving. Only the move of the address itself is dark.
  const steps: Step[] = [];
  if (grab) steps.push({ kind: 'grab', ...grab });
  if (!untouched.includes(from)) steps.push({ kind: 'demote', host: from, status: next[from] });
  steps.push({ kind: 'promote', host: to, status: next[to] });
  const procedure = !mandatory ? 'EMERGENCY' : samePair(next, NORMAL) ? 'back to NORMAL' : 'planned switchover';
  return refuseUnreachable(next, reachable) ?? plan(procedure, from, to, true, grab, steps, untouched);
}

/** The same host keeps serving: its partner failed, or comes back as its standby. */
function keepServing(previous: Pair, next: Pair, reachable: Reachability, untouched: Host[]): SwitchPlan | SwitchRefusal {
  const server = servingHost(next);
  const partner = otherHost(server);
  const returning = previous[partner] === 'down';
  // The returning host catches up on what was served while it was down, rather than wait for the nightly run.
  const grab = returning ? { from: server, to: partner, mandatory: false, final: false } : undefined;
  const steps: Step[] = [];
  if (grab) steps.push({ kind: 'grab', ...grab });
  if (!untouched.includes(partner)) steps.push({ kind: 'set-status', host: partner, status: next[partner] });
  if (previous[server] !== next[server]) steps.push({ kind: 'set-status', host: server, status: next[server] });
  const procedure = !returning
    ? (`${partner} failed` as const)
    : samePair(next, RECOVERY)
      ? 'RECOVERY'
      : 'secondary repaired';
  return refuseUnreachable(next, reachable) ?? plan(procedure, server, server, false, grab, steps, untouched);
}

/** A host declared anything but down must be reachable: it has work to do. */
function refuseUnreachable(next: Pair, reachable: Reachability): SwitchRefusal | undefined {
  const host = HOSTS.find((h) => next[h] !== 'down' && reachable[h] === false);
  if (host === undefined) return undefined;
  return {
    ok: false,
    reason: `the ${host} is unreachable, but its next status ${next[host]} needs it working`,
    suggestion: `fix SSH access to the ${host}, or declare it down: ${usePair(aloneOn(otherHost(host)))}`,
  };
}

function plan(
  procedure: Procedure,
  from: Host | undefined,
  to: Host,
  serviceIpMoves: boolean,
  dataGrab: DataGrab | undefined,
  steps: Step[],
  untouched: Host[],
): SwitchPlan {
  return { ok: true, procedure, from, to, serviceIpMoves, dataGrab, steps, untouched };
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'grab':
      return (
        `grab the latest data from the ${step.from} to the ${step.to}` +
        (step.final ? `, the ${step.from}'s database read-only from the final dump on` : '') +
        (step.mandatory ? ` (if it fails, the ${step.from} takes writes again and keeps serving)` : ' (best effort)')
      );
    case 'demote':
      return `demote the ${step.host}: remove the service IP, set status ${step.status}`;
    case 'promote':
      return `promote the ${step.host}: add the service IP, set status ${step.status}`;
    case 'set-status':
      return `set the status of the ${step.host} to ${step.status}`;
  }
}
