// One SOUNZ machine converged to its role: the status file, the service IP alias, the replication
// cron file and the two rsync daemons, each a custom resource over SSH.
import * as pulumi from '@pulumi/pulumi';
import { HostConfig, StackConfig } from '../model/config';
import { roleOf, RsyncDaemon as DaemonName, Status } from '../model/statuses';
import { ReplicationCron } from '../providers/replicationCron';
import { RsyncDaemon } from '../providers/rsyncDaemon';
import { ServiceAddress } from '../providers/serviceAddress';
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
  /** What this host's claim of the service IP waits for: the other host's release, the data grab. */
  claimAfter: pulumi.Resource[];
}

/** rsync module name for a served path: /usr/share/sounz -> usr-share-sounz. */
export function moduleName(path: string): string {
  return path.slice(1).replace(/\//g, '-');
}

export class SounzHost extends pulumi.ComponentResource {
  readonly serviceAddress: ServiceAddress;
  readonly statusFile: StatusFile;

  constructor(name: string, args: SounzHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sounz:index:Host', name, {}, opts);
    const { machine, peer, config, status } = args;
    const role = roleOf(status);
    const host = {
      connection: { host: machine.name, address: machine.address, sshPort: machine.sshPort, user: machine.user, hostKey: machine.hostKey },
      privateKey: args.privateKey,
    };
    // A host the stack stops managing (declared down and unreachable) is left as it is: removing
    // these resources from the program must never need the dead host to answer.
    const child = { parent: this, retainOnDelete: true };

    this.serviceAddress = new ServiceAddress(`${name}-service-ip`, {
      ...host,
      ip: config.serviceIp,
      prefixLength: config.servicePrefixLength,
      interface: config.serviceInterface,
      label: config.serviceLabel,
      present: role.servesApplication,
    }, { ...child, dependsOn: role.servesApplication ? args.claimAfter : [] });

    // The status follows the address: a demoted host says `down` only once it has let the IP go.
    this.statusFile = new StatusFile(`${name}-status`, { ...host, status }, { ...child, dependsOn: [this.serviceAddress] });

    new ReplicationCron(`${name}-replication-cron`, {
      ...host,
      jobs: [...role.cronJobs],
      schedule: config.replication.schedule,
      source: peer.address,
    }, child);

    const { indexDir, dataDirs, dumpDir } = config.replication;
    const daemons: Record<DaemonName, { port: number; modules: Record<string, string> }> = {
      apollo: { port: config.ports.apolloRsync, modules: { index: indexDir } },
      sounz: {
        port: config.ports.sounzRsync,
        modules: Object.fromEntries([...dataDirs, dumpDir].map((dir) => [moduleName(dir), dir])),
      },
    };
    for (const [daemon, { port, modules }] of Object.entries(daemons) as [DaemonName, typeof daemons.apollo][]) {
      new RsyncDaemon(`${name}-rsyncd-${daemon}`, {
        ...host,
        name: daemon,
        port,
        modules,
        allowFrom: peer.address,
        running: role.rsyncDaemons.includes(daemon),
      }, child);
    }
    this.registerOutputs({});
  }
}
