// A pure model of the two hosts, the LAN and the stack, driven by the real planner (model/situation.ts)
// and executing its steps in the order components/pair.ts declares them, with the providers' own rules
// (duplicate-address detection, rollback, the copy's generation check), and the split-brain guards
// between ups. Faults and client writes come from generated sequences; `violations` collects every
// broken invariant.
import { GenerationRecord, NO_RECORD, mayCopy } from '../../model/generation';
import { NORMAL, Pair, checkPair, pairText } from '../../model/pairs';
import { HostFacts, LastApplied, UpPlan, planUp } from '../../model/situation';
import { HOSTS, Host, Status, otherHost, roleOf } from '../../model/statuses';
import { Action } from './faultSequences';

interface ModelHost {
  alive: boolean;
  partitioned: boolean;
  sshOk: boolean;
  checkBroken: boolean;
  status: Status | undefined;
  record: GenerationRecord;
  holdsServiceIp: boolean;
  readOnly: boolean;
  /** Ids of the client writes its database holds. */
  writes: number[];
  /** Ground truth, kept by the world and not by the hosts: which line of data it holds (grows with each new server). */
  lineage: number;
}

export interface UpOutcome {
  result: 'refused' | 'failed' | 'succeeded';
  message: string;
  plan?: UpPlan;
}

const SERVICE = { ip: '198.51.100.100', device: 'eth0' };

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

  constructor() {
    const fresh = (status: Status, holds: boolean): ModelHost => ({
      alive: true, partitioned: false, sshOk: true, checkBroken: false, status, record: NO_RECORD,
      holdsServiceIp: holds, readOnly: false, writes: [], lineage: 0,
    });
    this.hosts = { primary: fresh('production', false), secondary: fresh('standby', false) };
    this.lastApplied = undefined;
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
      replicationRunning: false, databaseBytes: 1000, freeBytes: 1 << 30,
    };
  }

  apply(action: Action): UpOutcome | undefined {
    this.log.push(JSON.stringify(action));
    if (action.kind === 'write') {
      this.write();
      return undefined;
    }
    if (action.kind === 'up') return this.up(action.pair, action.interruptAfter);
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
        host.holdsServiceIp = action.withServiceIp === true && host.status !== undefined && roleOf(host.status).servesApplication;
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

  /**
   * The split-brain guards (providers/serviceGuard.ts), which run on their own between ups: a host
   * whose status serves, holding the service IP, that sees its peer answer for it too and learns from
   * the peer's rsync daemon (run by a serving status) that the peer began to serve later, lets the
   * service IP go, writes its status `down` and freezes its database. Nothing else ever yields.
   */
  private guards(): void {
    const serves = (host: ModelHost) => host.status !== undefined && roleOf(host.status).servesApplication;
    const onLan = this.holdersOnLan();
    for (const h of onLan) {
      const [host, peer] = [this.hosts[h], this.hosts[otherHost(h)]];
      if (!onLan.includes(otherHost(h)) || !serves(host) || !serves(peer) || peer.record.served <= host.record.served) continue;
      // The host that claimed last carries the operator's newest decision: no guard may take the IP from it.
      if (this.lastClaimBy === h) this.violations.push(`a guard took the service IP from the ${h}, which claimed it last`);
      host.holdsServiceIp = false;
      host.status = 'down';
      host.readOnly = true;
      this.log.push(`guard: the ${h} (served ${host.record.served}) yielded to its peer (served ${peer.record.served})`);
    }
  }

  /** A client write reaches the holder of the service IP, if exactly one answers and it takes writes. */
  private write(): void {
    const holders = this.holdersOnLan();
    if (holders.length !== 1) return;
    const host = this.hosts[holders[0]];
    if (!host.readOnly) host.writes.push(this.nextWrite++);
  }

  private copy(from: Host, to: Host): void {
    const [source, receiver] = [this.hosts[from], this.hosts[to]];
    if (!mayCopy(source.record, receiver.record)) throw new Error(`${to}: refusing to copy older data from ${from}`);
    // Older onto newer: an older line of data, or the same line missing writes the receiver has.
    const lost = receiver.writes.filter((w) => !source.writes.includes(w));
    if (source.lineage < receiver.lineage || (source.lineage === receiver.lineage && lost.length > 0)) {
      this.violations.push(`a copy from the ${from} (line ${source.lineage}) replaced newer data on the ${to} ` +
        `(line ${receiver.lineage}, writes ${lost.join(', ')} lost)`);
    }
    receiver.writes = [...source.writes];
    receiver.lineage = source.lineage;
    receiver.record = { ...receiver.record, data: source.record.data };
  }

  /** The claim script on `h`: duplicate-address detection, the address, the record, writes on. */
  private claim(h: Host, generation: number): void {
    if (!this.reachable(h)) throw new Error(`${h}: SSH connection failed`);
    const host = this.hosts[h];
    host.readOnly = false;
    if (host.holdsServiceIp) {
      if (host.record.served === 0) host.record = { ...host.record, served: generation, data: generation };
      return;
    }
    const others = this.holdersOnLan().filter((o) => o !== h);
    if (!host.partitioned && others.length > 0) throw new Error(`${h}: refusing to add the service IP: ${others[0]} answers for it`);
    host.holdsServiceIp = true;
    host.record = { ...host.record, served: generation, data: generation };
    host.lineage = ++this.lineages;
    this.lastClaimBy = h;
  }

  up(next: Pair, interruptAfter?: number): UpOutcome {
    const holdersBefore = this.holdersOnLan().join(',');
    const observed = Object.fromEntries(HOSTS.map((h) => [h, this.reachable(h)
      ? { reachable: true as const, facts: this.facts(h) }
      : { reachable: false as const, error: 'no answer' }])) as Record<Host, { reachable: true; facts: HostFacts } | { reachable: false; error: string }>;
    const plan = planUp({ observed, lastApplied: this.lastApplied }, next, SERVICE);
    if (!plan.ok) {
      if (this.holdersOnLan().join(',') !== holdersBefore) this.violations.push('a refused up changed who holds the service IP');
      return { result: 'refused', message: plan.reason };
    }
    const outcome = this.execute(plan, next, interruptAfter);
    this.checkAfterUp(plan, next, outcome, holdersBefore);
    this.guards();
    return { ...outcome, plan };
  }

  private execute(plan: UpPlan, next: Pair, interruptAfter: number | undefined): UpOutcome {
    const contacted = HOSTS.filter((h) => !plan.untouched.includes(h));
    const server = plan.to;
    const partner = otherHost(server);
    let step = 0;
    const proceed = (what: string) => {
      if (interruptAfter !== undefined && step++ >= interruptAfter) throw new Error(`interrupted before ${what}`);
    };
    const mustReach = (h: Host) => {
      if (!this.reachable(h)) throw new Error(`${h}: SSH connection failed`);
    };
    try {
      proceed('the replication scripts');
      contacted.forEach(mustReach);
      const grab = plan.dataGrab;
      if (grab) {
        proceed('the grab');
        try {
          mustReach(grab.from);
          if (grab.final) this.hosts[grab.from].readOnly = true;
          mustReach(grab.to);
          this.copy(grab.from, grab.to);
        } catch (error) {
          if (grab.mandatory) {
            if (this.reachable(grab.from)) this.hosts[grab.from].readOnly = false;
            throw error;
          }
        }
      }
      if (contacted.includes(partner)) {
        proceed('the release');
        mustReach(partner);
        this.hosts[partner].holdsServiceIp = false;
      }
      proceed('the claim');
      try {
        this.claim(server, plan.generation);
      } catch (error) {
        if (!plan.rollbackTo) throw error;
        try {
          this.claim(plan.rollbackTo, plan.generation);
        } catch {
          throw new Error(`NOBODY SERVES: ${(error as Error).message}`);
        }
        throw new Error(`${(error as Error).message}; ${plan.rollbackTo} took the service IP back`);
      }
      for (const h of [partner, server].filter((x) => contacted.includes(x))) {
        proceed(`the status of the ${h}`);
        mustReach(h);
        this.hosts[h].status = next[h];
        this.hosts[h].record = { ...this.hosts[h].record, switch: plan.generation };
      }
      proceed('the checks');
      mustReach(server);
      if (this.hosts[server].checkBroken) throw new Error(`${server}: post-switch checks failed`);
      if (this.holdersOnLan().length > 1) throw new Error(`${server}: another machine answers for the service IP`);
      if (!this.hosts[server].holdsServiceIp || this.hosts[server].readOnly) throw new Error(`${server}: does not serve`);
    } catch (error) {
      return { result: 'failed', message: (error as Error).message };
    }
    this.lastApplied = { pair: next, generation: plan.generation, records: plan.recordsAfter };
    return { result: 'succeeded', message: plan.procedure };
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
    } else if (holders.length > 1 && !this.duplicateByFault) {
      this.violations.push(`${where}: two hosts hold the service IP`);
    } else if (holders.length === 0 && !outcome.message.includes('NOBODY SERVES') && !outcome.message.startsWith('interrupted')) {
      // A failed up leaves one host serving, or says loudly that nobody does (an engine killed mid-way cannot).
      this.violations.push(`${where}: nobody holds the service IP (before: [${holdersBefore}]) and the failure does not say so`);
    }
  }
}
