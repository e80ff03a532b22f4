// The two machines switched as one. The pair owns what crosses hosts: the final data grab, while the
// old production still serves (read-only), then the service IP, let go by one host before the other
// claims it (never on two hosts). A host the plan leaves untouched (declared down, unreachable) gets
// no resource and so no connection at all.
import { readFileSync } from 'fs';
import { join } from 'path';
import { PROJECT_DIR } from '../providers/project';
import * as pulumi from '@pulumi/pulumi';
import { postgresqlCluster, StackConfig } from '../model/config';
import { continuousSettings, Lag, Promotion, StreamingPart, streamingParts, standbySlot } from '../model/continuous';

import { Pair, pairText } from '../model/pairs';
import { UpPlan } from '../model/situation';
import { GraphStep, stepGraph, stepId } from '../model/stepGraph';
import { Host, otherHost } from '../model/statuses';
import { DataGrab } from '../providers/dataGrab';
import { Fence, fenceArgv } from '../providers/fence';
import { ServiceAddress } from '../providers/serviceAddress';
import { ReplicationScript } from '../providers/replicationScript';
import { ServiceChecks } from '../providers/serviceChecks';
import { StreamingReplication } from '../providers/streamingReplication';
import { hostArgs, pairPassword, replicationSettings, SounzHost } from './host';

export interface SounzPairArgs {
  config: StackConfig;
  /** The statuses the config declares. */
  next: Pair;
  /** The plan from what the hosts record (model/situation.ts). */
  plan: UpPlan;
  /** Nightly mode: the hosts whose database still streams from the peer, to detach first (model/continuous.ts). */
  detach: Host[];
}

export class SounzPair extends pulumi.ComponentResource {
  readonly dataGrab: DataGrab | undefined;
  /** Continuous mode: the server's and its standby's parts in streaming replication. */
  readonly streaming: { server?: StreamingReplication; standby?: StreamingReplication };
  /**
   * The replication as this up left it: the mode; in continuous mode the standby's lag as measured
   * (or, at a promotion, what the new server had replayed), what the handover or rebuild did, and the
   * data directories kept aside on each host.
   */
  readonly replication: pulumi.Output<unknown>;
  readonly checks: ServiceChecks;
  /** Per host fenced in this up: the command, its exit code and output (sounz:fenceCommand). */
  readonly fencing: pulumi.Output<Record<string, { command: string[]; exitCode: number; output: string }>>;

  constructor(name: string, args: SounzPairArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sounz:index:Pair', name, {}, opts);
    const { config, next, plan } = args;
    const { generation } = plan;
    const privateKey = pulumi.secret(config.sshPrivateKey);
    const keep = { parent: this, retainOnDelete: true };
    const server = plan.to;
    const partner = otherHost(server);

    // The steps and their order come from the model (model/stepGraph.ts): each step one resource (a
    // host's role one component), each edge one dependsOn.
    const { mode, keepDataDirectories, maxSlotWalKeepSize } = continuousSettings(config);
    const graph = stepGraph(plan, next, { mode, detach: args.detach, fencing: config.fenceCommand !== undefined });
    const parts = mode === 'continuous' ? streamingParts(plan, next) : undefined;
    const replicateScript = readFileSync(join(PROJECT_DIR, 'replication', 'sounz-replicate'), 'utf8');
    const reason = `${plan.procedure}: ${plan.previous ? pairText(plan.previous) : 'first deployment'} -> ${pairText(next)}`;
    const built = new Map<string, pulumi.Resource>();
    const streaming = (h: Host, part: StreamingPart, dependsOn: pulumi.Resource[]) => {
      const peer = config[otherHost(h)];
      return new StreamingReplication(`${config[h].name}-streaming`, {
        ...hostArgs(config[h], privateKey),
        role: part.role, ...postgresqlCluster(config), peer: peer.address, peerHost: hostArgs(peer, privateKey).connection,
        password: config.replication.password && pulumi.secret(config.replication.password), generation,
        serverData: plan.recordsAfter[server].data,
        handover: part.handoverFrom !== undefined, handoverMandatory: part.handoverMandatory, rebuild: part.rebuild,
        keepDataDirectories, maxSlotWalKeepSize,
        // The server keeps a slot for its standby only; a standby streams through its own, a detached one drops it.
        slot: part.role === 'standby' || part.role === 'detached' ? standbySlot(config[h].name)
          : part.role === 'primary' && parts?.[otherHost(h)]?.role === 'standby' ? standbySlot(peer.name) : '',
      }, { ...keep, dependsOn });
    };
    const build = (step: GraphStep, dependsOn: pulumi.Resource[]): pulumi.Resource => {
      const h = step.host;
      switch (step.kind) {
        case 'replication-script':
          // Both sides of a grab need the replication command; so do the nightly cron jobs and the claim (thaw).
          return new ReplicationScript(`${config[h].name}-replication-script`,
            { ...hostArgs(config[h], privateKey), script: replicateScript, password: pairPassword(config), settings: replicationSettings(config) }, { ...keep, dependsOn });
        case 'detach':
          return streaming(h, { role: 'detached', handoverFrom: undefined, handoverMandatory: false, upstream: undefined, rebuild: false }, dependsOn);
        case 'data-grab': {
          const grab = plan.dataGrab!;
          return new DataGrab(`${name}-data-grab`, {
            ...hostArgs(config[grab.to], privateKey),
            source: hostArgs(config[grab.from], privateKey).connection,
            reason, mandatory: grab.mandatory, final: grab.final, generation,
          }, { ...keep, dependsOn });
        }
        case 'streaming-server':
        case 'streaming-standby':
          return streaming(h, parts![h]!, dependsOn);
        case 'fence':
          return new Fence(`${config[h].name}-fence`, {
            host: config[h].name, argv: fenceArgv(config.fenceCommand!, config[h].name), generation,
          }, { parent: this, dependsOn });
        case 'release':
        case 'claim':
          return new ServiceAddress(`${config[h].name}-service-ip`, {
            ...hostArgs(config[h], privateKey),
            ip: config.serviceIp,
            prefixLength: config.servicePrefixLength,
            interface: config.serviceInterface,
            label: config.serviceLabel,
            present: step.kind === 'claim',
            generation,
            drift: plan.drift[h] ?? [],
            // After a promotion the old server's PostgreSQL is a step behind: it must not take writes again.
            rollback: step.kind === 'claim' && plan.rollbackTo && !parts ? hostArgs(config[plan.rollbackTo], privateKey).connection : null,
            ...(step.kind === 'claim' && plan.rollbackTo && parts ? {
              noRollback: `${config[plan.rollbackTo].name}'s PostgreSQL was shut down and ${config[h].name} promoted with all of its ` +
                `writes (continuous replication), so ${config[plan.rollbackTo].name} does not take the service IP back. Fix ${config[h].name}, then pulumi up.`,
            } : {}),
          }, { ...keep, dependsOn });
        case 'role':
          return new SounzHost(config[h].name, {
            machine: config[h], peer: config[otherHost(h)], privateKey, config, status: next[h], generation, after: dependsOn,
          }, { parent: this });
        case 'checks': {
          // The replica checked is the standby's, when there is one.
          const hasStandby = !plan.untouched.includes(partner) && next[partner] !== 'down';
          const { ports } = config;
          return new ServiceChecks(`${name}-checks`, {
            ...hostArgs(config[server], privateKey),
            reason: `${pairText(next)}, generation ${generation}`,
            serviceIp: config.serviceIp,
            interface: config.serviceInterface,
            websitePort: ports.website,
            apolloPort: ports.apollo,
            mongrelPorts: ports.mongrels,
            rsyncPorts: [ports.apolloRsync, ports.sounzRsync],
            database: config.replication.database,
            appRole: config.replication.appRole,
            replicaHost: hostArgs(config[hasStandby ? partner : server], privateKey).connection,
          }, { ...keep, dependsOn });
        }
      }
    };
    for (const step of graph) built.set(step.id, build(step, step.after.map((id) => built.get(id)!)));
    const of = <T extends pulumi.Resource>(id: string) => built.get(id) as T | undefined;

    this.dataGrab = of<DataGrab>(stepId.grab);
    const serverStreaming = of<StreamingReplication>(stepId.streaming(server));
    const standbyStreaming = of<StreamingReplication>(stepId.streaming(partner));
    this.streaming = { server: serverStreaming, standby: standbyStreaming };
    this.checks = of<ServiceChecks>(stepId.checks)!;
    const fenced = graph.filter((step) => step.kind === 'fence');
    this.fencing = pulumi.all(fenced.map((step) => of<Fence>(step.id)!).map((f) => pulumi.all([f.argv, f.exitCode, f.output])))
      .apply((outcomes) => Object.fromEntries(outcomes.map(([command, exitCode, output], i) =>
        [config[fenced[i].host].name, { command, exitCode, output }])));
    const named = (h: Host, r: StreamingReplication | undefined) => r && { host: config[h].name, r };
    const promotionOf = (p: Promotion | null | undefined) => (p ? { host: config[server].name, ...p } : null);
    const reported = [named(server, serverStreaming), named(partner, standbyStreaming)].filter((x) => x !== undefined);
    this.replication = !parts ? pulumi.output({ mode: 'nightly' }) : pulumi.all(reported.map(({ host, r }) =>
      pulumi.all([r.state, r.lag, r.promotion, r.kept, r.outcome, r.lastFileSync, r.slotState])
        .apply(([state, lag, promotion, kept, outcome, lastFileSync, slot]) => ({ host, state, lag, promotion, kept, outcome, lastFileSync, slot }))))
      .apply((seen) => ({
        mode: 'continuous',
        // The standby's lag; without one, what the server had replayed when it was promoted.
        lag: (seen.find((s) => s.host === config[partner].name) ?? seen[0])?.lag as Lag | undefined ?? null,
        // The server's promotion, if the up that last converged it promoted it: what it had replayed
        // then, and the lag last observed while it was the standby.
        promotion: promotionOf(seen.find((s) => s.host === config[server].name)?.promotion),
        // When the standby last landed the data areas and the index (sounz-replicate pull-files).
        lastFileSync: seen.find((s) => s.host === config[partner].name)?.lastFileSync ?? 'never',
        state: Object.fromEntries(seen.map((s) => [s.host, s.state])),
        outcome: seen.map((s) => `${s.host}: ${s.outcome}`).join('; '),
        kept: Object.fromEntries(seen.map((s) => [s.host, s.kept])),
        // The standby's slot on the server (name, active, wal_status, bytes retained), asked last by the standby's part.
        slot: (seen.find((s) => s.host === config[partner].name) ?? seen[0])?.slot ?? null,
      }));
    this.registerOutputs({ dataGrab: this.dataGrab?.outcome ?? plan.grabSkipped ?? null, replication: this.replication,
      fencing: this.fencing, checks: this.checks.results });
  }
}
