// The two machines switched as one. The pair owns what crosses hosts: the final data grab, while the
// old production still serves (read-only), then the service IP, let go by one host before the other
// claims it (never on two hosts). A host the plan leaves untouched (declared down, unreachable) gets
// no resource and so no connection at all.
import { readFileSync } from 'fs';
import { join } from 'path';
import { PROJECT_DIR } from '../providers/project';
import * as pulumi from '@pulumi/pulumi';
import { StackConfig } from '../model/config';
import { continuousSettings, Lag, Promotion, streamingParts } from '../model/continuous';

import { Pair, pairText } from '../model/pairs';
import { UpPlan } from '../model/situation';
import { Host, otherHost } from '../model/statuses';
import { DataGrab } from '../providers/dataGrab';
import { Fence, fenceArgv } from '../providers/fence';
import { ServiceAddress } from '../providers/serviceAddress';
import { ReplicationScript } from '../providers/replicationScript';
import { ServiceChecks } from '../providers/serviceChecks';
import { StreamingReplication } from '../providers/streamingReplication';
import { hostArgs, replicationSettings, SounzHost } from './host';

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
    const contacted = (host: Host) => !plan.untouched.includes(host);
    const keep = { parent: this, retainOnDelete: true };
    const server = plan.to;
    const partner = otherHost(server);

    // Both sides of a grab need the replication command; so do the nightly cron jobs and the claim (thaw).
    const replicateScript = readFileSync(join(PROJECT_DIR, 'replication', 'sounz-replicate'), 'utf8');
    const scripts = Object.fromEntries(([server, partner] as Host[]).filter(contacted).map((h) => [h, new ReplicationScript(
      `${config[h].name}-replication-script`,
      { ...hostArgs(config[h], privateKey), script: replicateScript, settings: replicationSettings(config) }, keep)]));

    // Continuous mode: the database streams, so the grab is the new server's handover (or a rebuild of
    // the returning standby), and the files follow by cron.
    const { mode, keepDataDirectories } = continuousSettings(config);
    const parts = mode === 'continuous' ? streamingParts(plan, next) : undefined;
    const streaming = (h: Host, dependsOn: pulumi.Resource[], part = parts?.[h]) => {
      if (!part || part.role === 'off') return undefined;
      const peer = config[otherHost(h)];
      return new StreamingReplication(`${config[h].name}-streaming`, {
        ...hostArgs(config[h], privateKey),
        role: part.role, peer: peer.address, peerHost: hostArgs(peer, privateKey).connection,
        password: config.replication.password && pulumi.secret(config.replication.password), generation,
        serverData: plan.recordsAfter[server].data,
        handover: part.handoverFrom !== undefined, handoverMandatory: part.handoverMandatory, rebuild: part.rebuild,
        keepDataDirectories,
      }, { ...keep, dependsOn });
    };

    // First the grab, while the old server still holds the service IP (read-only from the final dump on).
    const reason = `${plan.procedure}: ${plan.previous ? pairText(plan.previous) : 'first deployment'} -> ${pairText(next)}`;
    const grab = parts ? undefined : plan.dataGrab;
    const detached = args.detach.map((h) => streaming(h, [scripts[h]],
      { role: 'detached', handoverFrom: undefined, handoverMandatory: false, upstream: undefined, rebuild: false })!);
    this.dataGrab = grab && new DataGrab(`${name}-data-grab`, {
      ...hostArgs(config[grab.to], privateKey),
      source: hostArgs(config[grab.from], privateKey).connection,
      reason,
      mandatory: grab.mandatory,
      final: grab.final,
      generation,
    }, { ...keep, dependsOn: Object.values(scripts) });
    // The new server is writable (promoted after the handover) before it claims the service IP.
    const serverStreaming = streaming(server, [scripts[server]]);
    const grabbed = this.dataGrab ? [this.dataGrab] : serverStreaming ? [serverStreaming] : [];

    // Then the old server lets the service IP go, and only then the new one claims it: never two holders.
    const serviceAddress = (host: Host, dependsOn: pulumi.Resource[]) => new ServiceAddress(`${config[host].name}-service-ip`, {
      ...hostArgs(config[host], privateKey),
      ip: config.serviceIp,
      prefixLength: config.servicePrefixLength,
      interface: config.serviceInterface,
      label: config.serviceLabel,
      present: host === server,
      generation,
      drift: plan.drift[host] ?? [],
      // After a promotion the old server's PostgreSQL is a step behind: it must not take writes again.
      rollback: host === server && plan.rollbackTo && !parts ? hostArgs(config[plan.rollbackTo], privateKey).connection : null,
      ...(host === server && plan.rollbackTo && parts ? {
        noRollback: `${config[plan.rollbackTo].name}'s PostgreSQL was shut down and ${config[host].name} promoted with all of its ` +
          `writes (continuous replication), so ${config[plan.rollbackTo].name} does not take the service IP back. Fix ${config[host].name}, then pulumi up.`,
      } : {}),
    }, { ...keep, dependsOn });
    // A host declared down that did not answer may still hold the service IP behind a partition: the
    // operator's fencing command (if declared) runs for it before this up's claim, and a failure stops
    // the claim. Only an up that claims fences: a later up while the host stays dead runs nothing.
    const claims = plan.steps.some((step) => step.kind === 'promote');
    const fences = config.fenceCommand && claims ? plan.untouched.map((h) => new Fence(`${config[h].name}-fence`, {
      host: config[h].name, argv: fenceArgv(config.fenceCommand!, config[h].name), generation,
    }, { parent: this })) : [];
    this.fencing = pulumi.all(fences.map((f) => pulumi.all([f.argv, f.exitCode, f.output])))
      .apply((outcomes) => Object.fromEntries(outcomes.map(([command, exitCode, output], i) =>
        [config[plan.untouched[i]].name, { command, exitCode, output }])));
    const released = contacted(partner) ? [serviceAddress(partner, grabbed)] : [];
    const claimed = serviceAddress(server, [...released, ...grabbed, ...detached, scripts[server], ...fences]);

    const host = (h: Host, after: pulumi.Resource[]) => new SounzHost(config[h].name, {
      machine: config[h], peer: config[otherHost(h)], privateKey, config, status: next[h], generation, after,
    }, { parent: this });
    // The partner keeps its old role (and its rsync daemons) until the grab has pulled from them.
    const partnerHost = contacted(partner) ? [host(partner, [...released, ...grabbed])] : [];
    // The old server follows the new one once it has let the service IP go.
    const standbyStreaming = contacted(partner) ? streaming(partner, [...released, ...grabbed]) : undefined;
    this.streaming = { server: serverStreaming, standby: standbyStreaming };
    const named = (h: Host, r: StreamingReplication | undefined) => r && { host: config[h].name, r };
    const promotionOf = (p: Promotion | null | undefined) => (p ? { host: config[server].name, ...p } : null);
    const reported = [named(server, serverStreaming), named(partner, standbyStreaming)].filter((x) => x !== undefined);
    this.replication = !parts ? pulumi.output({ mode: 'nightly' }) : pulumi.all(reported.map(({ host, r }) =>
      pulumi.all([r.state, r.lag, r.promotion, r.kept, r.outcome, r.lastFileSync])
        .apply(([state, lag, promotion, kept, outcome, lastFileSync]) => ({ host, state, lag, promotion, kept, outcome, lastFileSync }))))
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
      }));
    const serverHost = host(server, [claimed]);

    // The runbook's checks, once both hosts have their new roles.
    const { ports } = config;
    const hasStandby = contacted(partner) && next[partner] !== 'down';
    this.checks = new ServiceChecks(`${name}-checks`, {
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
    }, { ...keep, dependsOn: [serverHost, ...partnerHost, ...(standbyStreaming ? [standbyStreaming] : [])] });
    this.registerOutputs({});
  }
}
