#!/bin/sh
# sounz-guard: managed by Pulumi (sounz-standby); edits are overwritten. While this host holds the
# service IP, it asks every second whether another machine answers for it too; if the peer does and
# began to serve later (a larger /etc/sounz/generation/served), this host lets the service IP go.
# Where systemd is PID 1 the loop is the unit sounz-guard.service (`run`), which start, stop and status
# then ask systemd about; elsewhere it runs detached with a pidfile, and cron starts it again.
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
pidfile=/run/sounz/guard.pid
log=/var/log/sounz/sounz-general.log
gen=/etc/sounz/generation
alive() { pid=$(cat "$pidfile" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
stop() {
  if alive; then
    kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}
note() { printf '%s sounz-guard: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >>"$log"; }
number() { v=$(cat "$1" 2>/dev/null) || return 1; case $v in ''|*[!0-9]*) return 1;; esac; echo "$v"; }
resolve() { timeout 3 getent ahostsv4 "$1" | awk 'NR == 1 { print $1 }'; }
guard() {
  ip=$1 prefix=$2 dev=$3 peer=$4 port=$5
  last=
  # The same state is logged once, not every second.
  say() { [ "$*" = "$last" ] || { note "$*"; last=$*; }; }
  holds() { ip -4 -o addr show dev "$dev" | grep -qF " inet $ip/"; }
  peerfile=/run/sounz/guard-peer-served prooffile=/run/sounz/guard-peer-proof
  # A file of the peer's daemon, behind the pair's password (model/peerTrust.ts), which rsync reads from a root-only file.
  fetch() { timeout 3 rsync --password-file=/etc/sounz/rsync-peer.password --contimeout=1 --timeout=2 "rsync://sounz-peer@$peer:$port/$1" "$2" 2>&1; }
  oneline() { printf '%s' "$1" | tr '\n' ' '; }
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
    mac=$(printf '%s\n' "$out" | sed -n 's/^[^[]*\[\([^]]*\)\].*/\1/p' | head -n 1 | tr 'A-F' 'a-f')
    mine=$(number "$gen/served") || mine=0
    rm -f "$peerfile" "$prooffile"
    # Anyone on the peer can hold its port (a local user, after its reboot): only a daemon that proves
    # it holds the pair's password, as the copy requires (sounz-replicate check_peer), can make this
    # host let go. rsync's exit 5 is the daemon's refusal: an unknown module, a password it does not take.
    why=$(fetch sounz-proof/token "$prooffile"); code=$?
    if [ "$code" = 0 ] && ! cmp -s "$prooffile" /etc/sounz/rsync-peer.proof; then why='it serves another token'; code=5; fi
    if [ "$code" = 5 ]; then
      say "${mac:-another machine} also answers for $ip, but what answers on $peer port $port is not the SOUNZ rsync daemon of this pair (no proof of the pair's password: $(oneline "$why")): keeping $ip"
      sleep 1; continue
    fi
    if [ "$code" != 0 ] || ! why=$(fetch generation/served "$peerfile") || ! theirs=$(number "$peerfile"); then
      say "${mac:-another machine} also answers for $ip, but the generation of $peer cannot be learned ($(oneline "${why:-not a number}")): keeping $ip (served since generation $mine)"
      sleep 1; continue
    fi
    peerip=$(resolve "$peer")
    if [ -z "$peerip" ]; then
      say "${mac:-another machine} also answers for $ip, but $peer does not resolve to an IPv4 address here (getent ahostsv4): keeping $ip"
      sleep 1; continue
    fi
    peermac=$(ip neigh show to "$peerip" dev "$dev" 2>/dev/null | sed -n 's/.* lladdr \([^ ]*\).*/\1/p' | head -n 1 | tr 'A-F' 'a-f')
    if [ -z "$mac" ] || [ "$mac" != "$peermac" ]; then
      say "${mac:-another machine} also answers for $ip, and it is not $peer (${peermac:-MAC unknown}): keeping $ip"
      sleep 1; continue
    fi
    if [ "$theirs" -gt "$mine" ]; then
      if ip addr del "$ip/$prefix" dev "$dev" 2>/dev/null || ! holds; then
        note "$peer ($mac) also answers for $ip and began to serve in generation $theirs, after this host (generation $mine): this host is stale; released $ip"
        old=$(cat /etc/sounz/sounz.status 2>/dev/null) || old=none
        printf 'down\n' >/etc/sounz/sounz.status.guard && mv -f /etc/sounz/sounz.status.guard /etc/sounz/sounz.status
        note "sounz.status $old -> down (sounz-guard: $peer serves generation $theirs; the next pulumi up plans from the hosts' records)"
        if [ -e /etc/cron.d/sounz-replication ]; then rm -f /etc/cron.d/sounz-replication; note "removed /etc/cron.d/sounz-replication: a stale server dumps nothing"; fi
        # Clients that still reach it (cached ARP, its base address) must not write where nobody will look.
        if timeout 10 /usr/share/sounz/scripts/dr/sounz-replicate freeze >/dev/null 2>&1; then note "froze the database: a stale server takes no writes"
        else note "could not freeze the database (see the sounz-replicate lines above)"; fi
        for d in apollo sounz; do
          # A unit is disabled too: a stale server that reboots serves no data either.
          if [ -e "/etc/systemd/system/sounz-rsyncd-$d.service" ]; then
            if systemctl is-active --quiet "sounz-rsyncd-$d.service"; then stopped=yes; else stopped=no; fi
            systemctl disable --now --quiet "sounz-rsyncd-$d.service" 2>/dev/null || stopped=no
            if [ "$stopped" = yes ]; then note "stopped the $d rsync daemon: a stale server serves no data"; fi
            continue
          fi
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
cmd=${1:-}; [ $# -gt 0 ] && shift
unit=sounz-guard.service
if [ -d /run/systemd/system ]; then
  case $cmd in
    start|restart) systemctl "$cmd" "$unit" && echo "${cmd}ed"; exit ;;
    stop) systemctl stop "$unit" && echo stopped; exit ;;
    status) if systemctl is-active --quiet "$unit"; then echo running; else echo stopped; fi; exit ;;
  esac
fi
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
  # /run is empty after a boot, and systemd starts `run` itself.
  run) mkdir -p /run/sounz /var/log/sounz; trap 'note "stopped"; exit 0' TERM; guard "$@" ;;
  *) echo "usage: sounz-guard start|restart|run IP PREFIX DEV PEER PORT | stop | status (where systemd runs, start and restart take no arguments: its unit has them)" >&2; exit 64 ;;
esac
