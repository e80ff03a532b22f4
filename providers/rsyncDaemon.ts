// RsyncDaemon: one of the runbook's two rsync daemons (Apollo's index, SOUNZ's data areas) on the
// replication source: its config file and a running `rsync --daemon`, reachable only from the other
// host, and only with the pair's password. Where systemd is PID 1 the daemon is a unit of ours
// (sounz-rsyncd-<name>.service, `--no-detach`), enabled where the role runs it, so it comes back after a
// reboot; elsewhere it detaches with a pidfile, and the replication's dump starts it again after a
// reboot (sounz-replicate's serve). It serves a proof token beside the data, so that the peer copies
// only from it (rsync's password proves the client, not the server). `read` reports it running only if
// its daemon (the unit's main process, or that of its pidfile) holds the port and greets and the config,
// unit and trust files are ours, so `pulumi refresh` finds a daemon that died or a file edited by hand.
import * as pulumi from '@pulumi/pulumi';
import { PEER_USER, PROOF_MODULE, proofToken } from '../model/peerTrust';
import { checkInputs, ConnectionInputs, connectionProps, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { hostScript } from './project';
import { Runner, runOverSsh, script } from './ssh';
import { renderUnit, UNITS } from './systemdUnit';

export interface RsyncDaemonInputs extends ConnectionInputs {
  /** `apollo` or `sounz`: names the config file, the pidfile or unit and the log lines. */
  name: string;
  port: number;
  /** rsync module name -> absolute path it serves, read-only. */
  modules: Record<string, string>;
  /** The only address allowed to pull (the standby's). */
  allowFrom: string;
  /** The pair's rsync password (model/peerTrust.ts), a secret: the peer's only way in. */
  password: string;
  running: boolean;
}

const paths = (name: string) => ({
  config: `/etc/sounz/rsyncd-${name}.conf`, pidfile: `/run/sounz/rsyncd-${name}.pid`, unit: rsyncUnit(name),
  // Beside the config, root's alone (providers/scripts/rsyncd/common.sh makes them).
  secrets: `/etc/sounz/rsyncd-${name}.secrets`, proof: `/etc/sounz/rsyncd-${name}.proof`,
});

/** The daemon's unit where systemd is PID 1. */
export const rsyncUnit = (name: string) => `sounz-rsyncd-${name}.service`;

// No `pid file` in the config, so that it reads the same on both kinds of host: one without systemd
// names the pidfile when it starts the daemon (--dparam=pidfile); where systemd runs it, the unit
// knows the daemon's process.
export function renderRsyncConfig(inputs: RsyncDaemonInputs): string {
  const { config, secrets, proof } = paths(inputs.name);
  const modules = Object.entries({ ...inputs.modules, [PROOF_MODULE]: proof })
    .map(([module, path]) => `[${module}]\n    path = ${path}\n    comment = ${inputs.name} ${module}\n`);
  return [
    `# Managed by Pulumi (sounz-standby) as ${config}; edits are overwritten.`,
    `port = ${inputs.port}`,
    'use chroot = no',
    'read only = yes',
    'uid = root',
    'gid = root',
    'log file = /var/log/sounz/sounz-general.log',
    `log format = rsyncd-${inputs.name} %o %h %m/%f %l bytes`,
    `hosts allow = ${inputs.allowFrom}`,
    'hosts deny = *',
    // Every module, for the peer's password alone (README, Replication); its module names to nobody.
    `auth users = ${PEER_USER}`,
    `secrets file = ${secrets}`,
    'list = no',
    '',
    ...modules,
  ].join('\n');
}

/** What the scripts read on stdin: the secrets line, the proof token, then the config. */
function stdinOf(inputs: RsyncDaemonInputs): string {
  return `${PEER_USER}:${inputs.password}\n${proofToken(inputs.password)}\n${renderRsyncConfig(inputs)}`;
}

export function renderRsyncUnit(inputs: RsyncDaemonInputs): string {
  return renderUnit(`the SOUNZ ${inputs.name} rsync daemon`, ['/usr/bin/rsync', '--daemon', '--no-detach', `--config=${paths(inputs.name).config}`]);
}

const rsyncdScript = (name: string) => UNITS + hostScript('rsyncd/common.sh') + hostScript(`rsyncd/${name}.sh`);
const START = rsyncdScript('start');
const STOP = rsyncdScript('stop');
const OBSERVE = rsyncdScript('observe');

export function rsyncDaemonProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const converge = async (inputs: RsyncDaemonInputs) => {
    const { config, pidfile, unit } = paths(inputs.name);
    const argv = inputs.running
      ? script(START, config, pidfile, String(inputs.port), unit, renderRsyncUnit(inputs), ...Object.values(inputs.modules))
      : script(STOP, config, pidfile, unit);
    await run(targetOf(inputs), argv, { stdin: stdinOf(inputs) });
  };
  return {
    async check(_olds: RsyncDaemonInputs, news: RsyncDaemonInputs) {
      return checkInputs((z, g) => ({
        name: z.enum(['apollo', 'sounz']),
        port: g.port,
        modules: z.record(g.rsyncModule, g.absolutePath)
          .refine((modules) => Object.keys(modules).length > 0, 'at least one module')
          .refine((modules) => !(PROOF_MODULE in modules), `no module named ${PROOF_MODULE} (the daemon's proof token)`),
        allowFrom: g.hostnameOrIp,
        password: g.peerPassword,
        running: z.boolean(),
      }), news);
    },
    async diff(_id: string, olds: RsyncDaemonInputs, news: RsyncDaemonInputs) {
      return diffInputs(olds, news, ['name']);
    },
    async create(inputs: RsyncDaemonInputs) {
      await converge(inputs);
      return { id: `${inputs.host}:rsyncd-${inputs.name}`, outs: inputs };
    },
    async read(id: string, props: RsyncDaemonInputs) {
      const { config, pidfile, unit } = paths(props.name);
      const state = (await run(targetOf(props), script(OBSERVE, config, pidfile, String(props.port), unit, renderRsyncUnit(props)),
        { stdin: stdinOf(props) })).stdout.trim();
      return { id, props: { ...props, running: state === 'running' } };
    },
    async update(_id: string, olds: RsyncDaemonInputs, news: RsyncDaemonInputs) {
      await converge(news);
      return { outs: news };
    },
    async delete(_id: string, props: RsyncDaemonInputs) {
      await converge({ ...props, running: false });
    },
  };
}

export interface RsyncDaemonArgs extends HostArgs {
  name: pulumi.Input<'apollo' | 'sounz'>;
  port: pulumi.Input<number>;
  modules: pulumi.Input<Record<string, string>>;
  allowFrom: pulumi.Input<string>;
  password: pulumi.Input<string>;
  running: pulumi.Input<boolean>;
}

export class RsyncDaemon extends HostResource {
  declare readonly running: pulumi.Output<boolean>;

  constructor(name: string, args: RsyncDaemonArgs, opts?: pulumi.CustomResourceOptions) {
    const { port, modules, allowFrom, running } = args;
    super('rsyncDaemon', rsyncDaemonProvider, name,
      { ...connectionProps(args), name: args.name, port, modules, allowFrom, password: pulumi.secret(args.password), running },
      { ...opts, additionalSecretOutputs: [...SECRET_OUTPUTS, 'password'] });
  }
}
