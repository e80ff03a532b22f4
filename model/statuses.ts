/**
 * The six statuses of /etc/sounz/sounz.status (runbook §2) and what each one means for the host
 * that has it. Everything the providers do on a host follows from its role here.
 */

export const STATUSES = [
  'down',
  'production',
  'standby',
  'production_alone',
  'standby_as_production',
  'production_as_standby',
] as const;
export type Status = (typeof STATUSES)[number];

export const HOSTS = ['primary', 'secondary'] as const;
export type Host = (typeof HOSTS)[number];

export function otherHost(host: Host): Host {
  return host === 'primary' ? 'secondary' : 'primary';
}

export type Mode = 'Normal' | 'Emergency' | 'Recovery';
export type RsyncDaemon = 'apollo' | 'sounz';
/**
 * `dump`: nightly database dump on the replication source; `pull-and-restore`: the receiver's nightly
 * rsync + restore; `pull-files`: the receiver's rsync of the data areas and the index alone (continuous mode).
 */
export type CronJob = 'dump' | 'pull-and-restore' | 'pull-files';

export interface Role {
  status: Status;
  /** Serves the Rails site and Apollo to users, and so holds the service IP. */
  servesApplication: boolean;
  /** Pulls the other host's dump, Apollo index and data areas nightly. */
  replicatesFromOther: boolean;
  /** Is the replication source: dumps the database nightly for the other host to pull. */
  sendsReplication: boolean;
  rsyncDaemons: readonly RsyncDaemon[];
  cronJobs: readonly CronJob[];
  /** False for `down`: such a host is probed first, and demoted only if it answers (it has no role to converge). */
  contacted: boolean;
  /** The runbook gives `down` no mode. */
  mode: Mode | undefined;
  description: string;
}

const BOTH_DAEMONS: readonly RsyncDaemon[] = ['apollo', 'sounz'];

const idle = {
  servesApplication: false,
  replicatesFromOther: false,
  sendsReplication: false,
  rsyncDaemons: [] as readonly RsyncDaemon[],
  cronJobs: [] as readonly CronJob[],
  contacted: true,
};
const replicationSource = {
  servesApplication: true,
  sendsReplication: true,
  rsyncDaemons: BOTH_DAEMONS,
  cronJobs: ['dump'] as readonly CronJob[],
};
const replicationReceiver = {
  replicatesFromOther: true,
  cronJobs: ['pull-and-restore'] as readonly CronJob[],
};

const ROLES: { readonly [S in Status]: Omit<Role, 'status'> } = {
  down: { ...idle, contacted: false, mode: undefined, description: 'The server is currently not working.' },
  production: {
    ...idle,
    ...replicationSource,
    mode: 'Normal',
    description: 'The Production server, serving user applications, alongside a working Standby server.',
  },
  standby: {
    ...idle,
    ...replicationReceiver,
    mode: 'Normal',
    description: 'The Standby server, alongside a working Production server.',
  },
  production_alone: {
    ...idle,
    servesApplication: true,
    // Nobody to replicate to, but the runbook's EMERGENCY checks expect both rsync daemons
    // running, and RECOVERY's catch-up grab pulls from them.
    rsyncDaemons: BOTH_DAEMONS,
    mode: 'Emergency',
    description: 'The Production server, serving user applications, running alone: the other server has croaked.',
  },
  standby_as_production: {
    ...idle,
    ...replicationSource,
    mode: 'Recovery',
    description:
      'The former Standby server running as Production, alongside the former Production server now running as Standby.',
  },
  production_as_standby: {
    ...idle,
    ...replicationReceiver,
    mode: 'Recovery',
    description:
      'The former Production server running as Standby, alongside the former Standby server running as Production.',
  },
};

export function roleOf(status: Status): Role {
  return { status, ...ROLES[status] };
}
