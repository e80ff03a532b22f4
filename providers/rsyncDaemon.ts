// RsyncDaemon: one of the runbook's two rsync daemons (Apollo's index, SOUNZ's data areas) on the
// replication source: its config file and a running `rsync --daemon` with a pidfile, reachable only
// from the other host. `read` reports it running only if the process lives, an rsync daemon greets
// on the port and the config is ours, so `pulumi refresh` finds a daemon that died or a config
// edited by hand.
import * as pulumi from '@pulumi/pulumi';
import { checkInputs, ConnectionInputs, connectionProps, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { Runner, runOverSsh, script } from './ssh';

export interface RsyncDaemonInputs extends ConnectionInputs {
  /** `apollo` or `sounz`: names the config file, the pidfile and the log lines. */
  name: string;
  port: number;
  /** rsync module name -> absolute path it serves, read-only. */
  modules: Record<string, string>;
  /** The only address allowed to pull (the standby's). */
  allowFrom: string;
  running: boolean;
}

const paths = (name: string) => ({ config: `/etc/sounz/rsyncd-${name}.conf`, pidfile: `/run/sounz/rsyncd-${name}.pid` });

// Something listening on the port is not enough: sshd on 22 listens too, and a daemon that could not
// bind its port exits. An rsync daemon greets every connection with "@RSYNCD: <protocol>" before it
// checks who is asking (so from the host itself too); sshd says "SSH-2.0-...", a web server nothing.
// The daemon binds every address when rsyncd.conf names none, so the host asks itself on 127.0.0.1.
// Having seen the greeting, it answers in kind and asks for the module list, so that the daemon logs a
// "module-list request" rather than a protocol error in the general log.
const GREETS = `greets() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && IFS= read -r greeting <&3 &&
    case $greeting in "@RSYNCD: "*) printf "@RSYNCD: 30.0\\n#list\\n" >&3; cat <&3 >/dev/null;; *) exit 1;; esac' \\
    greets "$1" 2>/dev/null
}`;

export function renderRsyncConfig(inputs: RsyncDaemonInputs): string {
  const { config, pidfile } = paths(inputs.name);
  const modules = Object.entries(inputs.modules)
    .map(([module, path]) => `[${module}]\n    path = ${path}\n    comment = ${inputs.name} ${module}\n`);
  return [
    `# Managed by Pulumi (sounz-standby) as ${config}; edits are overwritten.`,
    `pid file = ${pidfile}`,
    `port = ${inputs.port}`,
    'use chroot = no',
    'read only = yes',
    'uid = root',
    'gid = root',
    'log file = /var/log/sounz/sounz-general.log',
    `log format = rsyncd-${inputs.name} %o %h %m/%f %l bytes`,
    `hosts allow = ${inputs.allowFrom}`,
    'hosts deny = *',
    '',
    ...modules,
  ].join('\n');
}

// $1 config, $2 pidfile, $3 port, then the served paths; the wanted config on stdin. Restarts only
// when the config changed. A served path that does not exist yet (a fresh index) is made empty, so
// that a pull gets an empty tree rather than an error.
const START = `set -eu
${GREETS}
conf=$1 pidfile=$2 port=$3; shift 3
mkdir -p "$(dirname "$pidfile")" "$@"
tmp=$(mktemp "$conf.XXXXXX")
cat >"$tmp"
changed=yes
if cmp -s "$tmp" "$conf"; then changed=no; rm -f "$tmp"; else mv -f "$tmp" "$conf"; fi
pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  [ "$changed" = no ] && greets "$port" && { echo kept; exit 0; }
  kill "$pid"
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
rm -f "$pidfile"
rsync --daemon --config="$conf" </dev/null >/dev/null 2>&1
end=$(($(date +%s) + 5))
until greets "$port"; do
  if [ "$(date +%s)" -ge "$end" ]; then
    holders=$(ss -Hltnp "sport = :$port" | grep -o 'users:.*' | sort -u | tr '\\n' ' ')
    echo "no rsync daemon answers on port $port within 5 s (listening there: \${holders:-nothing}); see /var/log/sounz/sounz-general.log" >&2
    exit 1
  fi
  sleep 0.1
done
echo started`;

const STOP = `set -eu
conf=$1 pidfile=$2
pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  kill "$pid"
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
rm -f "$pidfile" "$conf"`;

// Prints "running" only for our config, a live pid and an rsync daemon's greeting on the port.
const OBSERVE = `${GREETS}
conf=$1 pidfile=$2 port=$3
tmp=$(mktemp)
cat >"$tmp"
pid=$(cat "$pidfile" 2>/dev/null || true)
if cmp -s "$tmp" "$conf" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && greets "$port"
then echo running; else echo stopped; fi
rm -f "$tmp"`;

export function rsyncDaemonProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const converge = async (inputs: RsyncDaemonInputs) => {
    const { config, pidfile } = paths(inputs.name);
    const argv = inputs.running
      ? script(START, config, pidfile, String(inputs.port), ...Object.values(inputs.modules))
      : script(STOP, config, pidfile);
    await run(targetOf(inputs), argv, { stdin: renderRsyncConfig(inputs) });
  };
  return {
    async check(_olds: RsyncDaemonInputs, news: RsyncDaemonInputs) {
      return checkInputs((z, g) => ({
        name: z.enum(['apollo', 'sounz']),
        port: g.port,
        modules: z.record(g.rsyncModule, g.absolutePath)
          .refine((modules) => Object.keys(modules).length > 0, 'at least one module'),
        allowFrom: g.hostnameOrIp,
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
      const { config, pidfile } = paths(props.name);
      const state = (await run(targetOf(props), script(OBSERVE, config, pidfile, String(props.port)),
        { stdin: renderRsyncConfig(props) })).stdout.trim();
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
  running: pulumi.Input<boolean>;
}

export class RsyncDaemon extends HostResource {
  declare readonly running: pulumi.Output<boolean>;

  constructor(name: string, args: RsyncDaemonArgs, opts?: pulumi.CustomResourceOptions) {
    const { port, modules, allowFrom, running } = args;
    super('rsyncDaemon', rsyncDaemonProvider, name, { ...connectionProps(args), name: args.name, port, modules, allowFrom, running },
      { ...opts, additionalSecretOutputs: SECRET_OUTPUTS });
  }
}
