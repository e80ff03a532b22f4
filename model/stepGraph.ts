/**
 * The steps of one `up` and their order, as data: which host does what, after which steps, and what
 * its failure leaves. components/pair.ts builds one resource (or component) per step and one
 * `dependsOn` per edge, with no order of its own, and the model's simulator executes the same graph:
 * a property proved over the graph is a property of the code.
 */
import type { ReplicationMode } from './config';
import { streamingParts } from './continuous';
import type { Pair } from './pairs';
import type { UpPlan } from './situation';
import { HOSTS, Host, otherHost } from './statuses';

export type StepKind =
  | 'replication-script' // sounz-replicate installed on a host (both sides of a grab, the cron jobs, the thaw)
  | 'detach' // nightly mode: a host still a hot standby made writable on its own
  | 'data-grab' // nightly mode: the final (or rebuilding) dump and restore
  | 'streaming-server' // continuous mode: the new server's part (the handover, the promotion)
  | 'streaming-standby' // continuous mode: the standby's part (following the server, a rebuild)
  | 'release' // the old holder lets the service IP go
  | 'fence' // the operator's fencing command for a host declared down that did not answer
  | 'claim' // the server takes the service IP (and takes it back on the old server if it cannot)
  | 'role' // a host's role: its status file, guard, rsync daemons and cron jobs
  | 'checks'; // the runbook's checks

/** What a step's failure leaves, the up stopping there. */
export type FailureLeaves =
  | 'nothing-changed' // no host changed role nor address: run it again once the cause is fixed
  | 'old-server-serves' // the old server keeps the service IP, writable, in its whole old role
  | 'old-server-frozen' // the old server keeps the service IP in its old role, but takes no writes since the final grab (handover)
  | 'rolled-back' // the new server could not claim: the old one took the service IP back, in its whole old role
  | 'nobody-serves' // the service IP is on no host: say NOBODY SERVES
  | 'new-server-serves'; // the new server holds the service IP; the re-run finishes the roles and checks

export const FAILURE_TEXT: Record<FailureLeaves, string> = {
  'nothing-changed': 'nothing changed; fix the cause and run it again',
  'old-server-serves': 'the old server still serves, in its old role; fix the cause and run it again',
  'old-server-frozen': 'the old server holds the service IP but takes no writes since the final grab; run it again, or thaw it (sounz-replicate thaw)',
  'rolled-back': 'the old server took the service IP back, in its whole old role; fix the new server, then run it again',
  'nobody-serves': 'NOBODY SERVES: the service IP is on no host',
  'new-server-serves': 'the new server serves; run it again to finish the roles and checks',
};

export interface GraphStep {
  id: string;
  kind: StepKind;
  /** The host the step acts on (the fence's: the host fenced, from this machine). */
  host: Host;
  /** The ids of the steps it comes after. */
  after: string[];
  failureLeaves: FailureLeaves;
}

export interface GraphOptions {
  mode: ReplicationMode;
  /** Nightly mode: the hosts whose database still streams from the peer (model/continuous.ts hostsToDetach). */
  detach: Host[];
  /** The config declares a fencing command. */
  fencing: boolean;
}

export const stepId = {
  script: (h: Host) => `replication-script:${h}`,
  detach: (h: Host) => `detach:${h}`,
  grab: 'data-grab',
  streaming: (h: Host) => `streaming:${h}`,
  release: (h: Host) => `release:${h}`,
  fence: (h: Host) => `fence:${h}`,
  claim: (h: Host) => `claim:${h}`,
  role: (h: Host) => `role:${h}`,
  checks: 'checks',
};

/** The plan claims the service IP: a promotion, or a server that lost it (drift) and takes it again. */
export function planClaims(plan: Pick<UpPlan, 'steps' | 'drift' | 'to'>): boolean {
  return plan.steps.some((step) => step.kind === 'promote') || (plan.drift[plan.to] ?? []).includes('service IP not held');
}

/** The switch's steps for `plan`, each after the steps it needs, in an order that executes them (topological). */
export function stepGraph(plan: UpPlan, next: Pair, options: GraphOptions): GraphStep[] {
  const server = plan.to;
  const partner = otherHost(server);
  const contacted = HOSTS.filter((h) => !plan.untouched.includes(h));
  const partnerContacted = contacted.includes(partner);
  const steps: GraphStep[] = [];
  const add = (step: GraphStep) => (steps.push(step), step.id);
  // Before the claim, a failure leaves the old server serving (a mandatory grab thaws it), if one serves.
  const beforeClaim: FailureLeaves = plan.from === server || plan.rollbackTo ? 'old-server-serves' : 'nothing-changed';

  const scripts = contacted.map((h) => add({ id: stepId.script(h), kind: 'replication-script', host: h, after: [], failureLeaves: 'nothing-changed' }));
  const scriptOf = (h: Host) => [stepId.script(h)];

  const parts = options.mode === 'continuous' ? streamingParts(plan, next) : undefined;
  const detached = options.detach.map((h) =>
    add({ id: stepId.detach(h), kind: 'detach', host: h, after: scriptOf(h), failureLeaves: beforeClaim }));

  // First the grab, while the old server still holds the service IP (read-only from the final dump on).
  const grabbed: string[] = [];
  if (!parts && plan.dataGrab) {
    // After the detach: a restore cannot land on a hot standby, and a grab beside a failed detach would freeze the old server for nothing.
    grabbed.push(add({ id: stepId.grab, kind: 'data-grab', host: plan.dataGrab.to, after: [...scripts, ...detached], failureLeaves: beforeClaim }));
  }
  // Continuous mode: the new server is writable (promoted after the handover) before it claims the service IP.
  if (parts?.[server] && parts[server]!.role !== 'off') {
    grabbed.push(add({ id: stepId.streaming(server), kind: 'streaming-server', host: server, after: scriptOf(server), failureLeaves: beforeClaim }));
  }

  // Then the old server lets the service IP go, and only then the new one claims it: never two holders.
  // Past the final grab (or the handover) the old server takes no writes until a claim thaws it.
  const frozen = plan.dataGrab?.final && plan.dataGrab.from === partner;
  const released = partnerContacted
    ? [add({ id: stepId.release(partner), kind: 'release', host: partner, after: grabbed, failureLeaves: frozen && beforeClaim === 'old-server-serves' ? 'old-server-frozen' : beforeClaim })] : [];
  // A host declared down that did not answer may still hold the service IP behind a partition: the
  // fencing command runs for it before any claim, and its failure stops the claim.
  const fences = options.fencing && planClaims(plan) ? plan.untouched.map((h) =>
    add({ id: stepId.fence(h), kind: 'fence', host: h, after: [], failureLeaves: beforeClaim })) : [];
  const claim = add({
    id: stepId.claim(server), kind: 'claim', host: server, after: [...released, ...grabbed, ...detached, ...scriptOf(server), ...fences],
    // A server that keeps the address it holds (nothing to claim) still serves.
    failureLeaves: plan.rollbackTo ? 'rolled-back' : plan.from === server && !planClaims(plan) ? 'old-server-serves' : 'nobody-serves',
  });

  const serverRole = add({ id: stepId.role(server), kind: 'role', host: server, after: [claim], failureLeaves: 'new-server-serves' });
  // The partner's role (status, guard, daemons, cron) changes only once the claim succeeded and the new
  // server's role (its status and the record that it serves) is written: a claim that fails and rolls
  // back, or a new server that goes down before its records say it serves (a reboot loses the address),
  // leaves the old server in its whole old role, its rsync daemons up for the re-run's grab.
  const roles = partnerContacted
    ? [add({ id: stepId.role(partner), kind: 'role', host: partner, after: [claim, serverRole], failureLeaves: 'new-server-serves' })] : [];
  // The old server follows the new one once it has let the service IP go.
  const standby = partnerContacted && parts?.[partner] && parts[partner]!.role !== 'off'
    ? [add({ id: stepId.streaming(partner), kind: 'streaming-standby', host: partner, after: [...released, ...grabbed], failureLeaves: 'new-server-serves' })] : [];

  // The runbook's checks, once both hosts have their new roles.
  add({ id: stepId.checks, kind: 'checks', host: server, after: [serverRole, ...roles, ...standby], failureLeaves: 'new-server-serves' });
  return steps;
}
