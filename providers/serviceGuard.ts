// ServiceGuard: a small loop on a host that serves, which ends a split brain without an operator. A
// host cut off the network while it holds the service IP cannot see a takeover; when the network
// heals, two hosts answer for the service IP. Every second the guard of a host that holds the service
// IP asks the LAN whether another machine answers for it (duplicate-address probe, as the claim does).
// If the peer answers, it fetches the peer's `served` generation from the peer's SOUNZ rsync daemon
// (the read-only module `generation`). The host that began to serve earlier (the smaller `served`)
// lets the service IP go, records its status as `down`, removes its replication cron file, freezes its
// database read-only, stops its rsync daemons, and logs why; the newer one never yields, and re-announces itself. When the peer's
// generation cannot be learned, the generations are equal, or the machine that answers is not the
// peer, it only logs: a guard never darkens the site on its own.
//
// The loop is a script the provider installs (`sounz-guard`). Where systemd is PID 1 it is the unit
// sounz-guard.service, enabled on a serving host (systemd restarts it and starts it at boot) and removed
// elsewhere. A host without systemd starts it detached with a pidfile, like the rsync daemons, and a
// cron file starts it again after a reboot (@reboot) and within a minute if it ever died. The script is
// fixed text, the config values its positional arguments; cron runs them through a shell and systemd
// reads `$` and `%` in ExecStart, so each is validated in `check` to a form both read literally.
import * as pulumi from '@pulumi/pulumi';
import { checkInputs, ConnectionInputs, connectionProps, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { hostScript } from './project';
import { Runner, runOverSsh, script } from './ssh';
import { renderUnit, UNITS } from './systemdUnit';

export interface ServiceGuardInputs extends ConnectionInputs {
  /** True on a host whose role serves; elsewhere the guard is stopped and removed. */
  running: boolean;
  ip: string;
  prefixLength: number;
  interface: string;
  /**
   * The other host's address or host name: where its generation is fetched (rsync resolves a name itself),
   * and whose MAC a yield requires (a name is resolved on the host, by RESOLVE_PEER, when it is needed).
   */
  peer: string;
  /** The port of the peer's SOUNZ rsync daemon, which serves the module `generation`. */
  peerPort: number;
}

export const GUARD_COMMAND = '/usr/share/sounz/scripts/dr/sounz-guard';
export const GUARD_CRON_FILE = '/etc/cron.d/sounz-guard';
export const GUARD_PIDFILE = '/run/sounz/guard.pid';
/** Where systemd is PID 1, the guard is this unit (/etc/systemd/system/sounz-guard.service) instead of the cron file and pidfile. */
export const GUARD_UNIT = 'sounz-guard.service';
/**
 * A shell function: `resolve NAME` prints NAME's first IPv4 address as the host resolves it (/etc/hosts,
 * then DNS: getent), nothing when it does not resolve; an address prints itself. Resolved when needed, not
 * once at install: a name may move, and a host may boot before its resolver answers. The guard's script
 * (providers/scripts/guard/sounz-guard.sh) has it word for word, as a unit test checks.
 */
export const RESOLVE_PEER = `resolve() { timeout 3 getent ahostsv4 "$1" | awk 'NR == 1 { print $1 }'; }`;
/** The rsync module of the SOUNZ daemon that publishes this host's generations, read-only, to the peer. */
export const GENERATION_MODULE = 'generation';

/** The run arguments, in the order sounz-guard takes them. */
export function guardArgs(inputs: ServiceGuardInputs): string[] {
  return [inputs.ip, String(inputs.prefixLength), inputs.interface, inputs.peer, String(inputs.peerPort)];
}

export function renderGuardUnit(inputs: ServiceGuardInputs): string {
  return renderUnit('the SOUNZ split-brain guard', [GUARD_COMMAND, 'run', ...guardArgs(inputs)]);
}

export function renderGuardCron(inputs: ServiceGuardInputs): string {
  const start = `root ${GUARD_COMMAND} start ${guardArgs(inputs).join(' ')} >/dev/null 2>&1`;
  return [
    '# Managed by Pulumi (sounz-standby): starts the SOUNZ split-brain guard after a reboot, and again within a minute if it died; edits are overwritten.',
    'SHELL=/bin/sh',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `@reboot ${start}`,
    `* * * * * ${start}`,
    '',
  ].join('\n');
}

// The guard itself (`sounz-guard start|restart|run IP PREFIX DEV PEER PORT`, `sounz-guard stop|status`),
// and the provider's scripts; those of a host start with the unit functions.
export const GUARD_SCRIPT = hostScript('guard/sounz-guard.sh');
const guardScript = (name: string) => UNITS + hostScript(`guard/${name}.sh`);
const INSTALL = guardScript('install');
const REMOVE = guardScript('remove');
const OBSERVE = guardScript('observe');

export function serviceGuardProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const converge = async (inputs: ServiceGuardInputs) => {
    const argv = inputs.running
      ? script(INSTALL, GUARD_COMMAND, GUARD_CRON_FILE, renderGuardCron(inputs), GUARD_UNIT, renderGuardUnit(inputs), ...guardArgs(inputs))
      : script(REMOVE, GUARD_COMMAND, GUARD_CRON_FILE, GUARD_PIDFILE, GUARD_UNIT);
    return (await run(targetOf(inputs), argv, { stdin: inputs.running ? GUARD_SCRIPT : '' })).stdout.trim();
  };
  return {
    async check(_olds: ServiceGuardInputs, news: ServiceGuardInputs) {
      return checkInputs((z, g) => ({
        running: z.boolean(),
        ip: g.ipv4Address,
        prefixLength: g.prefixLength,
        interface: g.interfaceName,
        peer: g.hostnameOrIp,
        peerPort: g.port,
      }), news);
    },
    async diff(_id: string, olds: ServiceGuardInputs, news: ServiceGuardInputs) {
      return diffInputs(olds, news);
    },
    async create(inputs: ServiceGuardInputs) {
      await converge(inputs);
      return { id: `${inputs.host}:sounz-guard`, outs: inputs };
    },
    async read(id: string, props: ServiceGuardInputs) {
      const state = (await run(targetOf(props), script(OBSERVE, GUARD_COMMAND, GUARD_CRON_FILE, renderGuardCron(props), GUARD_PIDFILE,
        GUARD_UNIT, renderGuardUnit(props)),
        { stdin: GUARD_SCRIPT })).stdout.trim();
      return { id, props: { ...props, running: state === 'running' } };
    },
    async update(_id: string, _olds: ServiceGuardInputs, news: ServiceGuardInputs) {
      await converge(news);
      return { outs: news };
    },
    async delete(_id: string, props: ServiceGuardInputs) {
      await converge({ ...props, running: false });
    },
  };
}

export interface ServiceGuardArgs extends HostArgs {
  running: pulumi.Input<boolean>;
  ip: pulumi.Input<string>;
  prefixLength: pulumi.Input<number>;
  interface: pulumi.Input<string>;
  peer: pulumi.Input<string>;
  peerPort: pulumi.Input<number>;
}

export class ServiceGuard extends HostResource {
  declare readonly running: pulumi.Output<boolean>;

  constructor(name: string, args: ServiceGuardArgs, opts?: pulumi.CustomResourceOptions) {
    const { running, ip, prefixLength, peer, peerPort } = args;
    super('serviceGuard', serviceGuardProvider, name, {
      ...connectionProps(args), running, ip, prefixLength, interface: args.interface, peer, peerPort,
    }, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS });
  }
}
