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
// The loop is a script the provider installs (`sounz-guard`), started detached with a pidfile, like
// the rsync daemons; a cron file starts it again after a reboot (@reboot) and within a minute if it
// ever died (cron is what these hosts have for both; they run no init system of ours). The script is
// fixed text, the config values its positional arguments; cron runs them through a shell, so each is
// validated in `check` to a form a shell reads literally.
import * as pulumi from '@pulumi/pulumi';
import { GENERATION_DIR } from '../model/generation';
import { checkInputs, ConnectionInputs, connectionProps, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { REPLICATE_COMMAND } from '../model/hostPaths';
import { PEER_PASSWORD_FILE, PEER_USER } from '../model/peerTrust';
import { ARPING_SENDER_MAC, Runner, runOverSsh, script } from './ssh';

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
/**
 * A shell function: `resolve NAME` prints NAME's first IPv4 address as the host resolves it (/etc/hosts,
 * then DNS: getent), nothing when it does not resolve; an address prints itself. Resolved when needed, not
 * once at install: a name may move, and a host may boot before its resolver answers.
 */
export const RESOLVE_PEER = `resolve() { timeout 3 getent ahostsv4 "$1" | awk 'NR == 1 { print $1 }'; }`;
/** The rsync module of the SOUNZ daemon that publishes this host's generations, read-only, to the peer. */
export const GENERATION_MODULE = 'generation';

/** The run arguments, in the order sounz-guard takes them. */
export function guardArgs(inputs: ServiceGuardInputs): string[] {
  return [inputs.ip, String(inputs.prefixLength), inputs.interface, inputs.peer, String(inputs.peerPort)];
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

// The guard itself. `sounz-guard start|restart|run IP PREFIX DEV PEER PORT`, `sounz-guard stop|status`.
export const GUARD_SCRIPT = `#!/bin/sh
# sounz-guard: managed by Pulumi (sounz-standby); edits are overwritten. While this host holds the
# service IP, it asks every second whether another machine answers for it too; if the peer does and
# began to serve later (a larger /etc/sounz/generation/served), this host lets the service IP go.
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
pidfile=${GUARD_PIDFILE}
log=/var/log/sounz/sounz-general.log
gen=${GENERATION_DIR}
alive() { pid=$(cat "$pidfile" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
stop() {
  if alive; then
    kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}
note() { printf '%s sounz-guard: %s\\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >>"$log"; }
number() { v=$(cat "$1" 2>/dev/null) || return 1; case $v in ''|*[!0-9]*) return 1;; esac; echo "$v"; }
${RESOLVE_PEER}
guard() {
  ip=$1 prefix=$2 dev=$3 peer=$4 port=$5
  last=
  # The same state is logged once, not every second.
  say() { [ "$*" = "$last" ] || { note "$*"; last=$*; }; }
  holds() { ip -4 -o addr show dev "$dev" | grep -qF " inet $ip/"; }
  peerfile=/run/sounz/guard-peer-served
  note "started: guarding $ip on $dev against a second holder; the peer $peer publishes its generation on rsync port $port"
  dup=no
  while :; do
    if ! holds; then say "this host does not hold $ip: nothing to guard"; dup=no; sleep 1; continue; fi
    out=$(arping -D -c 1 -w 1 -I "$dev" "$ip" 2>/dev/null); code=$?
    if [ "$code" != 1 ]; then
      # The peer let go: one more announcement, for those that followed it.
      if [ "$dup" = yes ]; then arping -q -U -c 2 -I "$dev" "$ip" </dev/null >/dev/null 2>&1 & fi
      dup=no
      if [ "$code" = 0 ]; then say "this host holds $ip and no other machine answers for it"
      else say "duplicate-address probe for $ip on $dev failed (arping exit $code)"; sleep 1; fi
      continue
    fi
    dup=yes
    mac=$(printf '%s\\n' "$out" | sed -n '${ARPING_SENDER_MAC}' | head -n 1 | tr 'A-F' 'a-f')
    mine=$(number "$gen/served") || mine=0
    rm -f "$peerfile"
    # Behind the pair's password (model/peerTrust.ts), which rsync reads from a root-only file.
    why=$(timeout 3 rsync --password-file=${PEER_PASSWORD_FILE} --contimeout=1 --timeout=2 "rsync://${PEER_USER}@$peer:$port/${GENERATION_MODULE}/served" "$peerfile" 2>&1)
    if [ $? != 0 ] || ! theirs=$(number "$peerfile"); then
      say "\${mac:-another machine} also answers for $ip, but the generation of $peer cannot be learned ($(printf '%s' "\${why:-not a number}" | tr '\\n' ' ')): keeping $ip (served since generation $mine)"
      sleep 1; continue
    fi
    peerip=$(resolve "$peer")
    if [ -z "$peerip" ]; then
      say "\${mac:-another machine} also answers for $ip, but $peer does not resolve to an IPv4 address here (getent ahostsv4): keeping $ip"
      sleep 1; continue
    fi
    peermac=$(ip neigh show to "$peerip" dev "$dev" 2>/dev/null | sed -n 's/.* lladdr \\([^ ]*\\).*/\\1/p' | head -n 1 | tr 'A-F' 'a-f')
    if [ -z "$mac" ] || [ "$mac" != "$peermac" ]; then
      say "\${mac:-another machine} also answers for $ip, and it is not $peer (\${peermac:-MAC unknown}): keeping $ip"
      sleep 1; continue
    fi
    if [ "$theirs" -gt "$mine" ]; then
      if ip addr del "$ip/$prefix" dev "$dev" 2>/dev/null || ! holds; then
        note "$peer ($mac) also answers for $ip and began to serve in generation $theirs, after this host (generation $mine): this host is stale; released $ip"
        old=$(cat /etc/sounz/sounz.status 2>/dev/null) || old=none
        printf 'down\\n' >/etc/sounz/sounz.status.guard && mv -f /etc/sounz/sounz.status.guard /etc/sounz/sounz.status
        note "sounz.status $old -> down (sounz-guard: $peer serves generation $theirs; the next pulumi up plans from the hosts' records)"
        if [ -e /etc/cron.d/sounz-replication ]; then rm -f /etc/cron.d/sounz-replication; note "removed /etc/cron.d/sounz-replication: a stale server dumps nothing"; fi
        # Clients that still reach it (cached ARP, its base address) must not write where nobody will look.
        if timeout 10 ${REPLICATE_COMMAND} freeze >/dev/null 2>&1; then note "froze the database: a stale server takes no writes"
        else note "could not freeze the database (see the sounz-replicate lines above)"; fi
        for d in apollo sounz; do
          p=$(cat "/run/sounz/rsyncd-$d.pid" 2>/dev/null) || continue
          if [ -n "$p" ] && kill "$p" 2>/dev/null; then note "stopped the $d rsync daemon: a stale server serves no data"; fi
          rm -f "/run/sounz/rsyncd-$d.pid"
        done
        last=
      else
        say "$peer serves generation $theirs, after this host (generation $mine), but releasing $ip failed"
      fi
    elif [ "$theirs" -eq "$mine" ]; then
      say "$peer ($mac) also answers for $ip, with the same generation $mine: keeping $ip; an operator must decide (pulumi up)"
    else
      say "$peer ($mac) also answers for $ip, but it began to serve in generation $theirs, before this host (generation $mine): keeping $ip"
      arping -q -U -c 1 -I "$dev" "$ip" </dev/null >/dev/null 2>&1 &
    fi
    sleep 1
  done
}
cmd=\${1:-}; [ $# -gt 0 ] && shift
case $cmd in
  start)
    mkdir -p /run/sounz /var/log/sounz
    exec 9>/run/sounz/guard.lock
    flock 9
    if alive; then echo kept; exit 0; fi
    setsid "$0" run "$@" </dev/null >>"$log" 2>&1 9>&- &
    echo $! >"$pidfile"
    echo started ;;
  restart) stop; exec "$0" start "$@" ;;
  stop) stop; echo stopped ;;
  status) if alive; then echo running; else echo stopped; fi ;;
  run) trap 'note "stopped"; exit 0' TERM; guard "$@" ;;
  *) echo "usage: sounz-guard start|restart|run IP PREFIX DEV PEER PORT | stop | status" >&2; exit 64 ;;
esac
`;

// $1 command, $2 cron file, $3 the cron file's content, then the run arguments; the script on stdin.
// Restarts the loop only when the script or its arguments changed.
const INSTALL = `set -eu
cmd=$1 cronfile=$2 cron=$3; shift 3
mkdir -p "$(dirname "$cmd")" /run/sounz /var/log/sounz
changed=no
tmp=$(mktemp "$cmd.XXXXXX")
cat >"$tmp"
if cmp -s "$tmp" "$cmd"; then rm -f "$tmp"; else chmod 0755 "$tmp"; mv -f "$tmp" "$cmd"; changed=yes; fi
tmp=$(mktemp "$(dirname "$cronfile")/.sounz-guard.XXXXXX")
printf '%s' "$cron" >"$tmp"
if cmp -s "$tmp" "$cronfile"; then rm -f "$tmp"; else chmod 0644 "$tmp"; mv -f "$tmp" "$cronfile"; changed=yes; fi
if [ "$changed" = yes ]; then "$cmd" restart "$@"; else "$cmd" start "$@"; fi`;

// $1 command, $2 cron file, $3 pidfile. Without the script: the loop is ended by its pidfile.
const REMOVE = `set -eu
cmd=$1 cronfile=$2 pidfile=$3
rm -f "$cronfile"
pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid"
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
rm -f "$pidfile" "$cmd"
echo removed`;

// Prints "running" only for our script, our cron file and a live loop.
const OBSERVE = `cmd=$1 cronfile=$2 cron=$3 pidfile=$4
tmp=$(mktemp)
cat >"$tmp"
pid=$(cat "$pidfile" 2>/dev/null || true)
if cmp -s "$tmp" "$cmd" && [ "$(cat "$cronfile" 2>/dev/null)" = "$(printf '%s' "$cron")" ] && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
then echo running; else echo stopped; fi
rm -f "$tmp"`;

export function serviceGuardProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const converge = async (inputs: ServiceGuardInputs) => {
    const argv = inputs.running
      ? script(INSTALL, GUARD_COMMAND, GUARD_CRON_FILE, renderGuardCron(inputs), ...guardArgs(inputs))
      : script(REMOVE, GUARD_COMMAND, GUARD_CRON_FILE, GUARD_PIDFILE);
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
      const state = (await run(targetOf(props), script(OBSERVE, GUARD_COMMAND, GUARD_CRON_FILE, renderGuardCron(props), GUARD_PIDFILE),
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
