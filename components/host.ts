// One SOUNZ machine converged to its role: the status file, the replication cron file, the two
// rsync daemons and the split-brain guard, each a custom resource over SSH. The service IP is the
// pair's concern (pair.ts).
import * as pulumi from '@pulumi/pulumi';
import { HostConfig, rsyncModuleName, StackConfig } from '../model/config';
import { continuousSettings, cronJobsOf } from '../model/continuous';
import { GENERATION_DIR } from '../model/generation';
import { peerPassword } from '../model/peerTrust';
import { roleOf, RsyncDaemon as DaemonName, Status } from '../model/statuses';
import { ReplicationCron } from '../providers/replicationCron';
import { KEPT_DEFAULTS, ReplicationSettings } from '../providers/replicationScript';
import { RsyncDaemon } from '../providers/rsyncDaemon';
import { GENERATION_MODULE, ServiceGuard } from '../providers/serviceGuard';
import { StatusFile } from '../providers/statusFile';

export interface SounzHostArgs {
  /** This machine. */
  machine: HostConfig;
  /** The other machine: the one this host pulls from, or the only one allowed to pull from it. */
  peer: HostConfig;
  /** The operator's SSH key, a secret. */
  privateKey: pulumi.Input<string>;
  config: StackConfig;
  status: Status;
  /** The switch generation that declares the status. */
  generation: number;
  /** What this host's new role waits for: the service IP moved, the data grab done. */
  after: pulumi.Resource[];
}

/** How a resource reaches `machine`; the key travels separately, as a secret. */
export function hostArgs(machine: HostConfig, privateKey: pulumi.Input<string>) {
  const { name: host, address, sshPort, user, hostKey } = machine;
  return { connection: { host, address, sshPort, user, hostKey }, privateKey };
}

/** The pair's rsync password (model/peerTrust.ts), a secret, for both hosts' daemons and pulls. */
export function pairPassword(config: StackConfig): pulumi.Output<string> {
  return pulumi.secret(peerPassword(config.sshPrivateKey, `${config.primary.name}/${config.secondary.name}`));
}

/** The SOUNZ rsync daemon's modules: the data areas and the dump folder, each named by its path. */
export function sounzModules(replication: StackConfig['replication']): Record<string, string> {
  return Object.fromEntries([...replication.dataDirs, replication.dumpDir].map((dir) => [rsyncModuleName(dir), dir]));
}

/** What sounz-replicate needs to know, on either side of the replication. */
export function replicationSettings(config: StackConfig): ReplicationSettings {
  const { database, dumpDir, indexDir, keepDays, runTimeout, keepCopies, freeFloorMegabytes } = config.replication;
  return {
    database, dumpDir, indexDir, keepDays, runTimeout,
    keepCopies: keepCopies ?? KEPT_DEFAULTS.keepCopies,
    freeFloorMegabytes: freeFloorMegabytes ?? KEPT_DEFAULTS.freeFloorMegabytes,
    pair: `${config.primary.name}/${config.secondary.name}`,
    sounzRsyncPort: config.ports.sounzRsync,
    apolloRsyncPort: config.ports.apolloRsync,
    modules: sounzModules(config.replication),
  };
}

export class SounzHost extends pulumi.ComponentResource {
  readonly status: pulumi.Output<Status>;
  readonly generation: pulumi.Output<number>;

  constructor(name: string, args: SounzHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sounz:index:Host', name, {}, opts);
    const { machine, peer, config, status } = args;
    const role = roleOf(status);
    const host = hostArgs(machine, args.privateKey);
    // A host the stack stops managing (declared down and unreachable) is left as it is: removing
    // these resources from the program must never need the dead host to answer.
    const child = { parent: this, retainOnDelete: true, dependsOn: args.after };

    const statusFile = new StatusFile(`${name}-status`, { ...host, status, generation: args.generation }, child);

    const { mode, filesSchedule } = continuousSettings(config);
    new ReplicationCron(`${name}-replication-cron`, {
      ...host,
      jobs: cronJobsOf(role.cronJobs, mode),
      schedule: config.replication.schedule,
      ...(mode === 'continuous' ? { filesSchedule } : {}),
      source: peer.address,
    }, child);

    const daemons: Record<DaemonName, { port: number; modules: Record<string, string> }> = {
      apollo: { port: config.ports.apolloRsync, modules: { index: config.replication.indexDir } },
      // The SOUNZ daemon also publishes this host's generations, read-only, to the peer's guard: both
      // holders of a split brain think they serve, so both run it (not part of the replication).
      sounz: { port: config.ports.sounzRsync, modules: { ...sounzModules(config.replication), [GENERATION_MODULE]: GENERATION_DIR } },
    };
    for (const [daemon, { port, modules }] of Object.entries(daemons) as [DaemonName, typeof daemons.apollo][]) {
      new RsyncDaemon(`${name}-rsyncd-${daemon}`, {
        ...host,
        name: daemon,
        port,
        modules,
        allowFrom: peer.address,
        password: pairPassword(config),
        running: role.rsyncDaemons.includes(daemon),
      }, child);
    }

    // The guard runs where the role serves: a host that serves and finds a newer server answering
    // for the service IP lets it go (providers/serviceGuard.ts).
    new ServiceGuard(`${name}-guard`, {
      ...host,
      running: role.servesApplication,
      ip: config.serviceIp,
      prefixLength: config.servicePrefixLength,
      interface: config.serviceInterface,
      peer: peer.address,
      peerPort: config.ports.sounzRsync,
    }, child);
    // The status as written on the host, and the generation that declared it (once written).
    this.status = statusFile.status;
    this.generation = statusFile.status.apply(() => args.generation);
    this.registerOutputs({ status: this.status, generation: this.generation });
  }
}
