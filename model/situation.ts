/**
 * Planning an `up` from what happened, not from the last success: the hosts' own records (status,
 * generations, who holds the service IP) as the preflight saw them, with the stack's last applied
 * outputs only for a host that does not answer. Then the preflight of the plan: every host it will
 * contact must be able to do its part before the first step changes anything.
 */
import type { ReplicationMode } from './config';
import { GenerationRecord, NO_RECORD, describeRecord, mayCopy, newestServer } from './generation';
import { cannotCarry } from './network';
import { Pair, aloneOn, checkPair, pairText, samePair, servedBy, servingHost, usePair } from './pairs';
import { HOSTS, Host, Status, otherHost, roleOf } from './statuses';
import { Reachability, SwitchPlan, SwitchRefusal, planSwitch } from './transitions';

/** What the preflight read on a host that answered. */
export interface HostFacts {
  /** The content of /etc/sounz/sounz.status, when it is one of the six statuses. */
  status: Status | undefined;
  record: GenerationRecord;
  holdsServiceIp: boolean;
  /** The database refuses writes (a grab froze it and nothing thawed it since). */
  databaseReadOnly: boolean;
  /** The IPv4 addresses (`a.b.c.d/len`) on the service interface. */
  interfaceAddresses: string[];
  missingCommands: string[];
  replicationRunning: boolean;
  /** Who holds the replication lock: "pid N, running S s: <command>". */
  replicationHolder?: string;
  /** Size of the database, undefined when there is none. */
  databaseBytes: number | undefined;
  /** Free bytes where the dumps go. */
  freeBytes: number;
  /** Free bytes on PostgreSQL's data filesystem, where a restore builds its database; unknown to older observers. */
  postgresFreeBytes?: number;
  /** The service interface's MAC (`npm run status` names who answers ARP by it). */
  mac?: string;
  /** The host's stamp of the last copy it received, "<dump time> <source>" or "never". */
  lastReplication?: string;
  /** The database is a hot standby (continuous replication); unknown to older observers. */
  inRecovery?: boolean;
}

export type Observation = { reachable: true; facts: HostFacts } | { reachable: false; error: string };

/** What the last successful `up` recorded in its outputs. */
export interface LastApplied {
  pair: Pair;
  generation?: number;
  records?: Partial<Record<Host, GenerationRecord>>;
}

export interface Situation {
  observed: Record<Host, Observation>;
  lastApplied: LastApplied | undefined;
}

export interface ServiceIp {
  ip: string;
  device: string;
}

/** The plan of one `up`, from the situation the hosts are in. */
export interface UpPlan extends SwitchPlan {
  /** The pair the hosts are in (undefined: a first deployment on hosts without statuses). */
  previous: Pair | undefined;
  /** This up's generation: one more than any recorded when it changes anything. */
  generation: number;
  /** Per contacted host, how its service IP or database differs from its role now. */
  drift: Partial<Record<Host, string[]>>;
  /** The host that takes the service IP back if the new server cannot claim it (a planned switch). */
  rollbackTo: Host | undefined;
  /** Why a grab the runbook would make is not made, if so. */
  grabSkipped: string | undefined;
  /** The records each host will carry once the up succeeds (for the next plan, if a host then does not answer). */
  recordsAfter: Record<Host, GenerationRecord>;
}

/** The commands each contacted host needs for its part. */
export const NEEDED_COMMANDS = ['ip', 'arping', 'rsync', 'pg_dump', 'pg_restore', 'psql', 'runuser', 'flock', 'ss', 'timeout'];

function factsOf(situation: Situation, host: Host): HostFacts | undefined {
  const seen = situation.observed[host];
  return seen.reachable ? seen.facts : undefined;
}

function recordOf(situation: Situation, host: Host): GenerationRecord {
  return factsOf(situation, host)?.record ?? situation.lastApplied?.records?.[host] ?? NO_RECORD;
}

/** A host's status as it says itself, or as last applied when it does not answer. */
function statusOf(situation: Situation, host: Host): Status | undefined {
  const seen = situation.observed[host];
  return seen.reachable ? seen.facts.status : situation.lastApplied?.pair[host];
}

/**
 * The pair the hosts are in. The host that began to serve last (by the records) is the one that
 * serves: statuses that say otherwise are left over from an `up` that stopped half-way, and its
 * partner is its standby only if its own status says it replicates, else it counts as down.
 */
export function situationPair(situation: Situation): Pair | undefined {
  const statuses = { primary: statusOf(situation, 'primary'), secondary: statusOf(situation, 'secondary') };
  const said = statuses.primary && statuses.secondary
    && checkPair(statuses.primary, statuses.secondary).ok ? statuses as Pair : undefined;
  const newest = newestServer({ primary: recordOf(situation, 'primary'), secondary: recordOf(situation, 'secondary') });
  if (newest === undefined) return said ?? situation.lastApplied?.pair;
  if (said && servingHost(said) === newest) return said;
  const partner = statuses[otherHost(newest)];
  return partner && roleOf(partner).replicatesFromOther ? servedBy(newest) : aloneOn(newest);
}

function refusal(reason: string, suggestion: string): SwitchRefusal {
  return { ok: false, reason, suggestion };
}

/** The plan of an `up` that declares `next`, or why it must not start. */
export function planUp(situation: Situation, next: Pair, service: ServiceIp, mode: ReplicationMode = 'nightly'): UpPlan | SwitchRefusal {
  const previous = situationPair(situation);
  const reachable: Reachability = {
    primary: situation.observed.primary.reachable,
    secondary: situation.observed.secondary.reachable,
  };
  if (situation.lastApplied === undefined && previous !== undefined && checkPair(next.primary, next.secondary).ok
      && servingHost(previous) !== servingHost(next)) {
    return refusal(
      `first deployment: the hosts' own records say ${pairText(previous)}, the ${servingHost(previous)} serving, ` +
        `but the config declares ${pairText(next)}: the service IP would move to the host with the older data`,
      `adopt the hosts' view first, then switch with pulumi up: ${usePair(previous)}`);
  }
  // Every host not declared down has a part in the up: it must answer.
  const unreachable = HOSTS.find((h) => next[h] !== 'down' && !situation.observed[h].reachable);
  if (unreachable && checkPair(next.primary, next.secondary).ok) {
    const seen = situation.observed[unreachable] as { error: string };
    return refusal(`preflight: the ${unreachable} must take part in this up, but it does not answer: ${seen.error}`,
      `fix SSH access to the ${unreachable} and run it again (nothing has changed on either host); ` +
        `if it is dead, ${usePair(aloneOn(otherHost(unreachable)))}`);
  }
  // A first deployment on hosts that agree with the config claims the service IP as any first deployment does.
  const plan = planSwitch(situation.lastApplied === undefined ? undefined : previous, next, reachable);
  if (!plan.ok) return plan;
  const contacted = HOSTS.filter((h) => !plan.untouched.includes(h));
  const facts = (h: Host) => factsOf(situation, h) as HostFacts;
  for (const h of contacted) {
    const missing = facts(h).missingCommands;
    if (missing.length > 0) {
      return refusal(`preflight: the ${h} lacks commands its part needs: ${missing.join(', ')}`,
        `install them on the ${h} (Debian: iproute2, iputils-arping, rsync, postgresql-client, util-linux, coreutils) and run it again; nothing has changed`);
    }
  }
  const unroutable = cannotCarry(service.ip, facts(plan.to).interfaceAddresses, service.device);
  if (unroutable) {
    return refusal(`preflight: the ${plan.to} cannot carry the service IP: ${unroutable}`,
      `set the service IP to an address of the hosts' subnet (pulumi config set sounz:serviceIp ...), or the interface that carries it (sounz:serviceInterface)`);
  }

  // Streaming replication needs no dump, room for one, nor the replication lock: its grab is a handover.
  const { grab, skipped, grabRefusal } = mode === 'nightly' ? checkGrab(situation, plan) : { grab: plan.dataGrab };
  if (grabRefusal) return grabRefusal;

  const drift: Partial<Record<Host, string[]>> = {};
  for (const h of contacted) {
    const serves = h === plan.to;
    const { holdsServiceIp, databaseReadOnly } = facts(h);
    drift[h] = [
      ...(serves && !holdsServiceIp ? ['service IP not held'] : []),
      ...(!serves && holdsServiceIp ? ['service IP held'] : []),
      ...(serves && databaseReadOnly ? ['database read-only'] : []),
    ];
  }
  const statusDrift = contacted.some((h) => facts(h).status !== next[h]);
  const changes = previous === undefined || !samePair(previous, next) || statusDrift
    || contacted.some((h) => drift[h]!.length > 0);
  const current = Math.max(situation.lastApplied?.generation ?? 0,
    ...HOSTS.map((h) => Math.max(...Object.values(recordOf(situation, h)))));
  const generation = changes ? current + 1 : current;

  const steps = plan.steps.filter((step) => step.kind !== 'grab' || grab !== undefined);
  // Only a host that serves and keeps working may take the service IP back: never one declared down.
  const rollbackTo = plan.from !== undefined && plan.from !== plan.to && next[plan.from] !== 'down'
    && contacted.includes(plan.from) ? plan.from : undefined;
  return {
    ...plan,
    dataGrab: grab,
    steps,
    previous,
    generation,
    drift,
    rollbackTo,
    grabSkipped: skipped,
    recordsAfter: recordsAfter(situation, { ...plan, dataGrab: grab }, generation),
  };
}

/** The grab the plan asks for, if its preconditions hold; a best-effort one is skipped otherwise, a mandatory one refused. */
function checkGrab(situation: Situation, plan: SwitchPlan):
  { grab: SwitchPlan['dataGrab']; skipped?: string; grabRefusal?: SwitchRefusal } {
  const grab = plan.dataGrab;
  if (!grab) return { grab };
  const [source, receiver] = [recordOf(situation, grab.from), recordOf(situation, grab.to)];
  if (!mayCopy(source, receiver)) {
    // The receiver already holds newer data (an earlier up got this far): copying would undo it.
    return {
      grab: undefined,
      skipped: `not grabbed: the ${grab.to} holds newer data (${describeRecord(receiver)}) than the ${grab.from} ` +
        `(${describeRecord(source)}); copying would undo it`,
    };
  }
  const from = factsOf(situation, grab.from) as HostFacts;
  const to = factsOf(situation, grab.to) as HostFacts;
  const problems = [
    ...(from.databaseBytes === undefined ? [`the ${grab.from} has no database to dump`] : []),
    ...(from.replicationRunning ? [`a replication run holds the lock on the ${grab.from}${holder(from)}`] : []),
    ...(to.replicationRunning ? [`a replication run holds the lock on the ${grab.to}${holder(to)}`] : []),
    ...(from.databaseBytes !== undefined && to.freeBytes < from.databaseBytes
      ? [`the ${grab.to} has ${to.freeBytes} bytes free for the dump, the database on the ${grab.from} takes ${from.databaseBytes}`] : []),
    // The restore builds the copy beside the live database before it swaps them.
    ...(from.databaseBytes !== undefined && to.postgresFreeBytes !== undefined && to.postgresFreeBytes < from.databaseBytes
      ? [`the ${grab.to} has ${to.postgresFreeBytes} bytes free on PostgreSQL's filesystem for the restore, the database on the ` +
        `${grab.from} takes ${from.databaseBytes}`] : []),
  ];
  if (problems.length === 0) return { grab };
  if (!grab.mandatory) return { grab: undefined, skipped: `best-effort grab skipped: ${problems.join('; ')}` };
  return {
    grab,
    grabRefusal: refusal(`preflight: the final data grab from the ${grab.from} to the ${grab.to} cannot run: ${problems.join('; ')}`,
      'wait for the replication run to end (a grab gives up after 30 minutes), or make room, then run it again; nothing has changed. ' +
        'A run a killed up left behind can be ended on its host: kill <its pid, above>'),
  };
}

const holder = (facts: HostFacts) => (facts.replicationHolder ? ` (${facts.replicationHolder})` : '');

function recordsAfter(situation: Situation, plan: SwitchPlan, generation: number): Record<Host, GenerationRecord> {
  const after = (h: Host): GenerationRecord => {
    const before = recordOf(situation, h);
    if (plan.untouched.includes(h)) return before;
    if (h === plan.to) {
      // The claim keeps the generation in which a host that already holds the address began to serve.
      const servingAlready = factsOf(situation, h)?.holdsServiceIp && before.served > 0;
      return servingAlready ? { ...before, switch: generation } : { switch: generation, served: generation, data: generation };
    }
    const grabbed = plan.dataGrab?.to === h ? recordOf(situation, plan.dataGrab.from).data : before.data;
    return { ...before, switch: generation, data: grabbed };
  };
  return { primary: after('primary'), secondary: after('secondary') };
}
