// A simulator of the two hosts, the LAN and the stack that EXECUTES the switch's step graph
// (model/stepGraph.ts), the graph components/pair.ts builds its resources from: the real planner
// (model/situation.ts) plans each up, the steps run in the graph's order as the engine runs them
// (a step starts once the steps it comes after are done; when one fails, the steps already started
// beside it still finish), each with its provider's effect on the hosts (duplicate-address detection,
// the rollback, the copy's generation check, kept copies). Faults come between steps (`up`'s fault)
// or between ups (`apply`); `violations` collects every broken invariant.
import type { ReplicationMode } from '../../model/config';
import { streamingParts } from '../../model/continuous';
import { GenerationRecord, NO_RECORD, mayCopy } from '../../model/generation';
import { NORMAL, Pair, checkPair, pairText } from '../../model/pairs';
import { HostFacts, LastApplied, Situation, UpPlan, planUp } from '../../model/situation';
import { HOSTS, Host, Status, otherHost, roleOf } from '../../model/statuses';
import { FailureLeaves, GraphStep, stepGraph } from '../../model/stepGraph';
import { Action } from './faultSequences';
import { SERVICE } from './procedures';

interface ModelHost {
  alive: boolean;
  partitioned: boolean;
  sshOk: boolean;
  checkBroken: boolean;
  /** /etc/sounz/sounz.status. */
  status: Status | undefined;
  /** The status whose guard, rsync daemons and cron jobs run on the host (its role step writes both). */
  role: Status | undefined;
  record: GenerationRecord;
  holdsServiceIp: boolean;
  readOnly: boolean;
  /** Continuous mode: the database is a hot standby of the peer. */
  streamsFromPeer: boolean;
  /** Ids of the client writes its database holds. */
  writes: number[];
  /** Ground truth, kept by the world and not by the hosts: which line of data it holds (grows with each new server). */
  lineage: number;
  /** Writes kept aside by a step that replaced the data (a rebuild's kept data directory). */
  kept: number[][];
}

/** A fault between two steps of an up: before the step at `before` (in the order they run), on `host`. */
export type StepFault =
  | 'dies' // the host dies: processes gone, the service IP with them; disks kept
  | 'partitioned' // cut off the LAN, still running
  | 'link-flaps' // its link goes down and up again: the next step on it cannot connect
  | 'command-fails' // the next step's command fails
  | 'up-killed' // the up is killed: nothing after runs, no rollback, nothing said
  | 'record-missing' // the host's generation records are gone
  | 'reboots'; // the host reboots: the service IP (an alias, not in its boot config) is gone

export const STEP_FAULTS: StepFault[] = ['dies', 'partitioned', 'link-flaps', 'command-fails', 'up-killed', 'record-missing', 'reboots'];

export interface UpOutcome {
  result: 'refused' | 'failed' | 'succeeded';
  message: string;
  plan?: UpPlan;
  /** The step whose failure stopped the up, and what the graph says it leaves. */
  failedStep?: GraphStep;
  /** The steps in the order they ran. */
  ran?: string[];
}

class StepFailure extends Error {}

export class PairWorld {
  readonly hosts: Record<Host, ModelHost>;
  lastApplied: LastApplied | undefined;
  readonly violations: string[] = [];
  readonly log: string[] = [];
  private nextWrite = 1;
  private lineages = 0;
  /** A fault (a heal, a host booting with the address) put the address on a second host; an up must repair it. */
  private duplicateByFault = false;
  /** Ground truth, kept by the world: the host whose claim of the service IP came last (in any up). */
  private lastClaimBy: Host | undefined;
  /** The records a 'record-missing' fault deleted, for the operator to restore. */
  private lostRecord: GenerationRecord | undefined;
  /** The last up's fault took the address off the host that held it (it died, rebooted, or was cut off). */
  private faultDarkened = false;

  constructor(readonly mode: ReplicationMode = 'nightly', start?: Situation) {
    const fresh = (status: Status | undefined, holds: boolean): ModelHost => ({
      alive: true, partitioned: false, sshOk: true, checkBroken: false, status, role: status, record: { ...NO_RECORD },
      holdsServiceIp: holds, readOnly: false, streamsFromPeer: false, writes: [], lineage: 0, kept: [],
    });
    this.hosts = { primary: fresh('production', false), secondary: fresh('standby', false) };
    this.lastApplied = undefined;
    if (start) {
      this.lastApplied = start.lastApplied;
      for (const h of HOSTS) {
        const seen = start.observed[h];
        const host = this.hosts[h];
        if (seen.reachable) {
          const { status, record, holdsServiceIp, databaseReadOnly, inRecovery } = seen.facts;
          Object.assign(host, { status, role: status, record: { ...record }, holdsServiceIp, readOnly: databaseReadOnly, streamsFromPeer: inRecovery === true });
        } else {
          Object.assign(host, { alive: false, status: start.lastApplied?.pair[h], role: start.lastApplied?.pair[h],
            record: { ...(start.lastApplied?.records?.[h] ?? NO_RECORD) } });
        }
      }
      // The newest server holds every write; its partner all but the last one, unless it streamed them.
      const newest = HOSTS.reduce((a, b) => (this.hosts[b].record.served > this.hosts[a].record.served ? b : a));
      for (const h of HOSTS) {
        const host = this.hosts[h];
        host.lineage = 1;
        host.writes = h === newest || (mode === 'continuous' && host.streamsFromPeer) ? [1, 2] : host.record.data > 0 ? [1] : [];
      }
      this.lineages = 1;
      this.nextWrite = 3;
      return;
    }
    const first = this.up(NORMAL);
    if (first.result !== 'succeeded') throw new Error(`the first deployment failed: ${first.message}`);
  }

  private reachable(h: Host): boolean {
    const host = this.hosts[h];
    return host.alive && !host.partitioned && host.sshOk;
  }

  /** Hosts that answer ARP on the LAN for the service IP. */
  holdersOnLan(): Host[] {
    return HOSTS.filter((h) => this.hosts[h].alive && !this.hosts[h].partitioned && this.hosts[h].holdsServiceIp);
  }

  private facts(h: Host): HostFacts {
    const host = this.hosts[h];
    return {
      status: host.status, record: { ...host.record }, holdsServiceIp: host.holdsServiceIp, databaseReadOnly: host.readOnly,
      interfaceAddresses: [h === 'primary' ? '198.51.100.11/24' : '198.51.100.12/24'], missingCommands: [],
      replicationRunning: false, databaseBytes: 1000, freeBytes: 1 << 30, inRecovery: host.streamsFromPeer,
    };
  }

  situation(): Situation {
    const observed = Object.fromEntries(HOSTS.map((h) => [h, this.reachable(h)
      ? { reachable: true as const, facts: this.facts(h) }
      : { reachable: false as const, error: 'no answer' }])) as Situation['observed'];
    return { observed, lastApplied: this.lastApplied };
  }

  apply(action: Action): UpOutcome | undefined {
    this.log.push(JSON.stringify(action));
    if (action.kind === 'write') {
      this.write();
      return undefined;
    }
    if (action.kind === 'up') return this.up(action.pair, action.interruptAfter === undefined ? undefined : { before: action.interruptAfter, fault: 'up-killed', host: 'primary' });
    const host = this.hosts[action.host];
    switch (action.fault) {
      case 'kill':
        host.alive = false;
        host.holdsServiceIp = false;
        break;
      case 'revive':
        if (host.alive) break;
        host.alive = true;
        // A server's boot configuration may bring the alias up again; a standby's has none.
        host.holdsServiceIp = action.withServiceIp === true && host.role !== undefined && roleOf(host.role).servesApplication;
        break;
      case 'partition':
        host.partitioned = true;
        break;
      case 'heal':
        host.partitioned = false;
        break;
      case 'stop-sshd':
        host.sshOk = false;
        break;
      case 'start-sshd':
        host.sshOk = true;
        break;
      case 'break-check':
        host.checkBroken = true;
        break;
      case 'mend-check':
        host.checkBroken = false;
        break;
    }
    if (this.holdersOnLan().length > 1) this.duplicateByFault = true;
    this.guards();
    return undefined;
  }

  /** Undo a step fault as the operator would: boot the dead host, heal the partition, restore the records from a backup. */
  repair(fault: { fault: StepFault; host: Host }): void {
    const host = this.hosts[fault.host];
    if (fault.fault === 'dies') host.alive = true;
    if (fault.fault === 'partitioned') host.partitioned = false;
    if (fault.fault === 'record-missing' && this.lostRecord) {
      const lost = this.lostRecord;
      host.record = { switch: Math.max(lost.switch, host.record.switch), served: Math.max(lost.served, host.record.served),
        data: Math.max(lost.data, host.record.data) };
    }
    if (this.holdersOnLan().length > 1) this.duplicateByFault = true;
    this.guards();
  }

  /**
   * The split-brain guards (providers/serviceGuard.ts), which run on their own between ups: a host
   * whose role serves, holding the service IP, that sees its peer answer for it too and learns from
   * the peer's rsync daemon (run by a serving role) that the peer began to serve later, lets the
   * service IP go, writes its status `down` and freezes its database. Nothing else ever yields.
   */
  guards(): void {
    const serves = (host: ModelHost) => host.role !== undefined && roleOf(host.role).servesApplication;
    const onLan = this.holdersOnLan();
    for (const h of onLan) {
      const [host, peer] = [this.hosts[h], this.hosts[otherHost(h)]];
      if (!onLan.includes(otherHost(h)) || !serves(host) || !serves(peer) || peer.record.served <= host.record.served) continue;
      // The host that claimed last carries the operator's newest decision: no guard may take the IP from it.
      if (this.lastClaimBy === h) this.violations.push(`a guard took the service IP from the ${h}, which claimed it last`);
      host.holdsServiceIp = false;
      host.status = 'down';
      host.role = 'down';
      host.readOnly = true;
      this.log.push(`guard: the ${h} (served ${host.record.served}) yielded to its peer (served ${peer.record.served})`);
    }
  }

  /** A client write reaches the holder of the service IP, if exactly one answers and it takes writes; a streaming standby replays it. */
  write(): void {
    const holders = this.holdersOnLan();
    if (holders.length !== 1) return;
    const [host, peer] = [this.hosts[holders[0]], this.hosts[otherHost(holders[0])]];
    if (host.readOnly) return;
    const id = this.nextWrite++;
    host.writes.push(id);
    if (peer.streamsFromPeer && peer.alive && !peer.partitioned && peer.lineage === host.lineage) peer.writes.push(id);
  }

  /** The receiver's data replaced by the source's: newer data replaced must have been kept first. */
  private replace(from: Host, to: Host, kept: boolean): void {
    const [source, receiver] = [this.hosts[from], this.hosts[to]];
    const lost = receiver.writes.filter((w) => !source.writes.includes(w));
    if (kept) receiver.kept.push([...receiver.writes]);
    // Older onto newer: an older line of data, or the same line missing writes the receiver has (a newer
    // line replacing an older one drops what the older never handed over, as an EMERGENCY does by the runbook).
    if (!kept && (source.lineage < receiver.lineage || (source.lineage === receiver.lineage && lost.length > 0))) {
      this.violations.push(`data from the ${from} (line ${source.lineage}) replaced newer data on the ${to} ` +
        `(line ${receiver.lineage}, writes ${lost.join(', ')} lost) without a kept copy`);
    }
    receiver.writes = [...source.writes];
    receiver.lineage = source.lineage;
    receiver.record = { ...receiver.record, data: source.record.data };
  }

  /** The claim script on `h`: duplicate-address detection, the address, the record, writes on. */
  private claim(h: Host, generation: number): void {
    const host = this.hosts[h];
    host.readOnly = false;
    host.streamsFromPeer = false;
    if (host.holdsServiceIp) {
      if (host.record.served === 0) host.record = { ...host.record, served: generation, data: generation };
      return;
    }
    const others = this.holdersOnLan().filter((o) => o !== h);
    if (!host.partitioned && others.length > 0) throw new StepFailure(`${h}: refusing to add the service IP: ${others[0]} answers for it`);
    host.holdsServiceIp = true;
    host.record = { ...host.record, served: generation, data: generation };
    host.lineage = ++this.lineages;
    this.lastClaimBy = h;
  }

  private mustReach(h: Host, flapping: Host | undefined): void {
    if (!this.reachable(h) || flapping === h) throw new StepFailure(`${h}: SSH connection failed`);
  }

  /** One step's effect on the hosts, as its provider has it. */
  private run(step: GraphStep, plan: UpPlan, next: Pair, flapping: Host | undefined, commandFails: boolean): void {
    const h = step.host;
    // The step's own command fails; the claim's failure is the new server's, and rolls back.
    if (commandFails && step.kind !== 'claim') throw new StepFailure(`${step.id}: the command failed`);
    const reach = (x: Host) => this.mustReach(x, flapping);
    const parts = this.mode === 'continuous' ? streamingParts(plan, next) : undefined;
    switch (step.kind) {
      case 'replication-script':
        return reach(h);
      case 'detach':
        reach(h);
        this.hosts[h].streamsFromPeer = false;
        return;
      case 'data-grab': {
        const grab = plan.dataGrab!;
        try {
          reach(grab.from);
          if (grab.final) this.hosts[grab.from].readOnly = true;
          reach(grab.to);
          if (!mayCopy(this.hosts[grab.from].record, this.hosts[grab.to].record)) throw new StepFailure(`${grab.to}: refusing to copy older data`);
          this.replace(grab.from, grab.to, false);
        } catch (error) {
          // A failed grab thaws the old server; a best-effort one does not stop the switch.
          if (grab.final && this.reachable(grab.from)) this.hosts[grab.from].readOnly = false;
          if (grab.mandatory) throw error;
        }
        return;
      }
      case 'streaming-server': {
        reach(h);
        const part = parts![h]!;
        if (part.handoverFrom !== undefined) {
          try {
            reach(part.handoverFrom);
            // The old server stops writing; the standby replays its last write.
            this.hosts[part.handoverFrom].readOnly = true;
            this.hosts[part.handoverFrom].streamsFromPeer = false;
            if (this.hosts[h].lineage === this.hosts[part.handoverFrom].lineage) this.hosts[h].writes = [...this.hosts[part.handoverFrom].writes];
          } catch (error) {
            if (part.handoverMandatory) {
              if (this.reachable(part.handoverFrom)) this.hosts[part.handoverFrom].readOnly = false;
              throw error;
            }
          }
        }
        this.hosts[h].streamsFromPeer = false;
        this.hosts[h].readOnly = false;
        return;
      }
      case 'streaming-standby': {
        reach(h);
        reach(otherHost(h));
        const part = parts![h]!;
        const [host, server] = [this.hosts[h], this.hosts[otherHost(h)]];
        // A standby on another line of data (or with writes the server lacks) is rebuilt, its data directory kept aside.
        const diverged = host.lineage !== server.lineage || host.writes.some((w) => !server.writes.includes(w));
        if (diverged || part.rebuild) this.replace(otherHost(h), h, true);
        host.streamsFromPeer = true;
        host.readOnly = true;
        return;
      }
      case 'release':
        reach(h);
        this.hosts[h].holdsServiceIp = false;
        return;
      case 'fence':
        // The fencing command powers the host off.
        this.hosts[h].alive = false;
        this.hosts[h].holdsServiceIp = false;
        return;
      case 'claim':
        try {
          reach(h);
          if (commandFails) throw new StepFailure(`${h}: adding the service IP failed (arping exit 2)`);
          this.claim(h, plan.generation);
        } catch (error) {
          const back = plan.rollbackTo;
          // As providers/serviceAddress.ts: with nobody to take the address back, the failure says NOBODY
          // SERVES, unless another machine answers for the address.
          if (!back) {
            if (/answers for it$/.test((error as Error).message)) throw error;
            throw new StepFailure(`NOBODY SERVES: ${(error as Error).message}`);
          }
          if (parts) throw new StepFailure(`NOBODY SERVES: ${(error as Error).message}; no rollback in continuous mode`);
          try {
            reach(back);
            this.claim(back, plan.generation);
          } catch {
            throw new StepFailure(`NOBODY SERVES: ${(error as Error).message}`);
          }
          throw new StepFailure(`${(error as Error).message}; ${back} took the service IP back`);
        }
        return;
      case 'role':
        reach(h);
        this.hosts[h].status = next[h];
        this.hosts[h].role = next[h];
        this.hosts[h].record = { ...this.hosts[h].record, switch: plan.generation };
        return;
      case 'checks': {
        reach(h);
        if (this.hosts[h].checkBroken) throw new StepFailure(`${h}: post-switch checks failed`);
        if (this.holdersOnLan().length > 1) throw new StepFailure(`${h}: another machine answers for the service IP`);
        if (!this.hosts[h].holdsServiceIp || this.hosts[h].readOnly) throw new StepFailure(`${h}: does not serve`);
      }
    }
  }

  up(next: Pair, fault?: { before: number; fault: StepFault; host: Host }): UpOutcome {
    const holdersBefore = this.holdersOnLan().join(',');
    this.faultDarkened = false;
    const situation = this.situation();
    const plan = planUp(situation, next, SERVICE, this.mode);
    if (!plan.ok) {
      if (this.holdersOnLan().join(',') !== holdersBefore) this.violations.push('a refused up changed who holds the service IP');
      return { result: 'refused', message: plan.reason };
    }
    const mode = this.mode;
    const detach = mode === 'nightly' ? HOSTS.filter((h) => !plan.untouched.includes(h) && this.hosts[h].streamsFromPeer) : [];
    const graph = stepGraph(plan, next, { mode, detach, fencing: true });
    const outcome = this.execute(graph, plan, next, fault);
    this.checkAfterUp(plan, next, outcome, holdersBefore);
    // A fault after the last step comes once the up has succeeded.
    if (fault && outcome.result === 'succeeded' && fault.before >= outcome.ran!.length && fault.fault !== 'up-killed') this.inject(fault.fault, fault.host);
    this.guards();
    return { ...outcome, plan };
  }

  /** The graph as the engine runs it: each step once the steps it comes after are done; a failure lets the steps started beside it finish. */
  private execute(graph: GraphStep[], plan: UpPlan, next: Pair, fault: { before: number; fault: StepFault; host: Host } | undefined): UpOutcome {
    const done = new Set<string>();
    const ran: string[] = [];
    const ready = () => graph.filter((s) => !done.has(s.id) && s.after.every((id) => done.has(id)));
    let failed: { step: GraphStep; message: string } | undefined;
    const attempt = (step: GraphStep, flapping: Host | undefined, commandFails: boolean) => {
      ran.push(step.id);
      try {
        this.run(step, plan, next, flapping, commandFails);
        done.add(step.id);
      } catch (error) {
        if (!(error instanceof StepFailure)) throw error;
        failed ??= { step, message: (error as Error).message };
      }
    };
    for (let index = 0; ; index++) {
      const [step, ...beside] = ready();
      if (!step) break;
      let flapping: Host | undefined;
      let commandFails = false;
      if (fault && fault.before === index) {
        if (fault.fault === 'up-killed') return { result: 'failed', message: `interrupted before ${step.id}`, ran };
        this.inject(fault.fault, fault.host);
        flapping = fault.fault === 'link-flaps' ? fault.host : undefined;
        commandFails = fault.fault === 'command-fails';
      }
      attempt(step, flapping, commandFails);
      if (failed) {
        // The steps the engine had started beside the failed one still finish.
        for (const other of beside) attempt(other, undefined, false);
        return { result: 'failed', message: failed.message, failedStep: failed.step, ran };
      }
    }
    this.lastApplied = { pair: next, generation: plan.generation, records: plan.recordsAfter };
    return { result: 'succeeded', message: plan.procedure, ran };
  }

  private inject(fault: StepFault, h: Host): void {
    const host = this.hosts[h];
    this.faultDarkened = host.holdsServiceIp && (fault === 'dies' || fault === 'reboots' || fault === 'partitioned');
    if (fault === 'dies') Object.assign(host, { alive: false, holdsServiceIp: false });
    if (fault === 'partitioned') host.partitioned = true;
    if (fault === 'record-missing') {
      this.lostRecord = { ...host.record };
      host.record = { ...NO_RECORD };
    }
    // A reboot: the alias is not in the boot configuration; the database's freeze (ALTER DATABASE) stays.
    if (fault === 'reboots') host.holdsServiceIp = false;
  }

  private checkAfterUp(plan: UpPlan, next: Pair, outcome: UpOutcome, holdersBefore: string): void {
    const holders = this.holdersOnLan();
    const where = `after up ${pairText(next)} (${plan.procedure}, ${outcome.result}: ${outcome.message})`;
    if (outcome.result === 'succeeded') {
      this.duplicateByFault = false;
      if (holders.length !== 1 || holders[0] !== plan.to) {
        this.violations.push(`${where}: the service IP is held by [${holders}], not by the declared server ${plan.to} alone`);
      }
      if (this.hosts[plan.to].status !== next[plan.to]) this.violations.push(`${where}: the server's status is ${this.hosts[plan.to].status}`);
      if (!checkPair(next.primary, next.secondary).ok) this.violations.push(`${where}: a pair the runbook refuses was applied`);
      return;
    }
    if (holders.length > 1 && !this.duplicateByFault) this.violations.push(`${where}: two hosts hold the service IP`);
    // Dark by the switch's own doing, not because the fault took the address off the host that held it.
    if (holders.length === 0 && holdersBefore !== '' && !this.faultDarkened && !outcome.message.includes('NOBODY SERVES') && !outcome.message.startsWith('interrupted')) {
      // A failed up leaves one host serving, or says loudly that nobody does (an engine killed mid-way cannot).
      this.violations.push(`${where}: nobody holds the service IP (before: [${holdersBefore}]) and the failure does not say so`);
    }
    const leaves: FailureLeaves | undefined = outcome.failedStep?.failureLeaves;
    const promised = leaves === 'rolled-back' || leaves === 'old-server-serves' || leaves === 'old-server-frozen';
    if (promised && plan.from !== undefined && holders.length === 1 && holders[0] === plan.from) {
      // What the graph promises: the old server holds the address in its whole old role (and takes writes, unless it says frozen).
      const old = this.hosts[plan.from];
      if (!old.role || !roleOf(old.role).servesApplication || !old.status || !roleOf(old.status).servesApplication
          || old.readOnly !== (leaves === 'old-server-frozen')) {
        this.violations.push(`${where}: the ${plan.from} holds the service IP back but its role is ${old.role}, status ${old.status}` +
          `${old.readOnly ? ', read-only' : ''}`);
      }
    }
  }
}
