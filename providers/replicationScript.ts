// ReplicationScript: the replication command (replication/sounz-replicate, in the runbook's
// /usr/share/sounz/scripts/dr), its settings file and the pair's rsync password and proof token on a
// host. The cron jobs and the final data grab run it. Its text is an input, so a new version of the script is a visible diff and an update.
import * as pulumi from '@pulumi/pulumi';
import { REPLICATE_COMMAND } from '../model/hostPaths';
import { PEER_PASSWORD_FILE, PEER_PROOF_FILE, proofToken } from '../model/peerTrust';
import { checkInputs, ConnectionInputs, connectionProps, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { hostScript } from './project';
import { Runner, runOverSsh, script, SshTarget } from './ssh';

const SETTINGS = '/etc/sounz/replication.conf';

export interface ReplicationSettings {
  database: string;
  dumpDir: string;
  indexDir: string;
  sounzRsyncPort: number;
  apolloRsyncPort: number;
  /** SOUNZ rsync module -> path: the data areas and the dump folder. */
  modules: Record<string, string>;
  /** "<primary name>/<secondary name>": a source's marker must name this pair. */
  pair: string;
  /** How long a copy keeps what it replaced. */
  keepDays: number;
  /** How many copies it keeps of what it replaced, per data area and for the database. */
  keepCopies: number;
  /** The free space (MB) a run leaves on every filesystem it writes to: kept copies go first, else it is refused. */
  freeFloorMegabytes: number;
  /** How long one run may last, in seconds: the host ends it then (RUN_BOUND_SECONDS). */
  runTimeout: number;
}

/** When the stack config leaves them out: two weeks of nightly copies, and a gigabyte. */
export const KEPT_DEFAULTS = { keepCopies: 14, freeFloorMegabytes: 1024 };

export interface ReplicationRunOptions {
  /** Wait for a run already in progress (a nightly one) instead of giving up. */
  wait: boolean;
  /** The final grab of a switch: the program has ordered the hosts, so their statuses are not checked. */
  switching: boolean;
  /** How long each side may take; the host enforces it too, so a run given up on lets go of the lock. */
  timeoutSeconds: number;
}

/** What pull-and-restore kept on the receiver: its `kept:` line, the database's old copy (if any) and folders. */
export function keptOf(stdout: string): string[] {
  const line = stdout.split('\n').find((l) => l.startsWith('kept: '));
  return line ? line.slice('kept: '.length).split(' ').filter(Boolean) : [];
}

/**
 * One replication run from `source` to `receiver`: the dump there, then the pull and restore here.
 * Returns what the receiver kept of what the copy replaced.
 */
export async function replicate(run: Runner, source: SshTarget, receiver: SshTarget, options: ReplicationRunOptions): Promise<string[]> {
  const flags = [...(options.wait ? ['--wait'] : []), ...(options.switching ? ['--switch'] : [])];
  const command = (...args: string[]) => ['timeout', String(options.timeoutSeconds), REPLICATE_COMMAND, ...flags, ...args];
  const limit = { timeoutMs: (options.timeoutSeconds + 10) * 1000 };
  await run(source, command('dump'), limit);
  return keptOf((await run(receiver, command('pull-and-restore', source.address), limit)).stdout);
}

export interface ReplicationScriptInputs extends ConnectionInputs, ReplicationSettings {
  script: string;
  /** The pair's rsync password (model/peerTrust.ts), a secret: how the pulls get into the peer's daemons. */
  password: string;
}

/** The client's side of the trust (model/peerTrust.ts): root-only files, path -> content. */
function peerFiles(password: string): Record<string, string> {
  return { [PEER_PASSWORD_FILE]: `${password}\n`, [PEER_PROOF_FILE]: `${proofToken(password)}\n` };
}

/**
 * The settings as shell assignments: every value passed the config grammar, so none needs quoting.
 * `host` is this host's name, which its dump's marker carries.
 */
export function renderSettings(settings: ReplicationSettings & { host: string }): string {
  const modules = Object.entries(settings.modules).map(([module, path]) => `${module}=${path}`).join(' ');
  return [
    '# Managed by Pulumi (sounz-standby); edits are overwritten.',
    `DATABASE=${settings.database}`,
    `DUMP_DIR=${settings.dumpDir}`,
    `INDEX_DIR=${settings.indexDir}`,
    `SOUNZ_RSYNC_PORT=${settings.sounzRsyncPort}`,
    `APOLLO_RSYNC_PORT=${settings.apolloRsyncPort}`,
    `MODULES="${modules}"`,
    'STAMP=/etc/sounz/last-replication',
    `HOST=${settings.host}`,
    `PAIR=${settings.pair}`,
    `KEEP_DAYS=${settings.keepDays}`,
    `KEEP_COPIES=${settings.keepCopies}`,
    `FREE_FLOOR_MB=${settings.freeFloorMegabytes}`,
    `RUN_BOUND_SECONDS=${settings.runTimeout}`,
    '',
  ].join('\n');
}

const INSTALL = hostScript('replication-install.sh');

const SAME = `tmp=$(mktemp); cat >"$tmp"; if cmp -s "$tmp" "$1"; then echo same; else echo differs; fi; rm -f "$tmp"`;

export function replicationScriptProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const install = async (inputs: ReplicationScriptInputs) => {
    const target = targetOf(inputs);
    await run(target, script(INSTALL, SETTINGS, '0644'), { stdin: renderSettings(inputs) });
    // rsync reads its password from this file (never a command line) and refuses it if others may read it.
    for (const [path, content] of Object.entries(peerFiles(inputs.password))) await run(target, script(INSTALL, path, '0600'), { stdin: content });
    await run(target, script(INSTALL, REPLICATE_COMMAND, '0755'), { stdin: inputs.script });
  };
  return {
    async check(_olds: ReplicationScriptInputs, news: ReplicationScriptInputs) {
      return checkInputs((z, g) => ({
        script: z.string().startsWith('#!/bin/sh\n'),
        password: g.peerPassword,
        database: g.databaseName,
        dumpDir: g.absolutePath,
        indexDir: g.absolutePath,
        sounzRsyncPort: g.port,
        apolloRsyncPort: g.port,
        modules: z.record(g.rsyncModule, g.absolutePath),
        pair: z.string().refine((s) => {
          const names = s.split('/');
          return names.length === 2 && names[0] !== names[1] && names.every((n) => g.hostName.safeParse(n).success);
        }, 'two different host names "<primary>/<secondary>"'),
        keepDays: g.keepDays,
        keepCopies: g.keepCopies,
        freeFloorMegabytes: g.freeFloorMegabytes,
        runTimeout: g.runTimeout,
      }), news);
    },
    async diff(_id: string, olds: ReplicationScriptInputs, news: ReplicationScriptInputs) {
      return diffInputs(olds, news);
    },
    async create(inputs: ReplicationScriptInputs) {
      await install(inputs);
      return { id: `${inputs.host}:${REPLICATE_COMMAND}`, outs: inputs };
    },
    async read(id: string, props: ReplicationScriptInputs) {
      const target = targetOf(props);
      const same = async (path: string, content: string) =>
        (await run(target, script(SAME, path), { stdin: content })).stdout.trim() === 'same';
      // Drift in either file shows as a changed script, which the next up installs again.
      let ours = await same(REPLICATE_COMMAND, props.script) && await same(SETTINGS, renderSettings(props));
      for (const [path, content] of Object.entries(peerFiles(props.password))) ours = ours && await same(path, content);
      return { id, props: ours ? props : { ...props, script: '(edited by hand)' } };
    },
    async update(_id: string, _olds: ReplicationScriptInputs, news: ReplicationScriptInputs) {
      await install(news);
      return { outs: news };
    },
    async delete(_id: string, props: ReplicationScriptInputs) {
      await run(targetOf(props), ['rm', '-f', REPLICATE_COMMAND, SETTINGS, ...Object.keys(peerFiles(props.password))]);
    },
  };
}

export interface ReplicationScriptArgs extends HostArgs {
  script: pulumi.Input<string>;
  password: pulumi.Input<string>;
  settings: ReplicationSettings;
}

export class ReplicationScript extends HostResource {
  constructor(name: string, args: ReplicationScriptArgs, opts?: pulumi.CustomResourceOptions) {
    super('replicationScript', replicationScriptProvider, name,
      { ...connectionProps(args), script: args.script, password: pulumi.secret(args.password), ...args.settings },
      { ...opts, additionalSecretOutputs: [...SECRET_OUTPUTS, 'password'] });
  }
}
