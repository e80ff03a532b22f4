#!/bin/sh
# sounz-reclaim: managed by Pulumi (sounz-standby); edits are overwritten. Runs once at boot, from the
# @reboot line of /etc/cron.d/sounz-reclaim: cron runs on every host of the pair, with systemd as PID 1
# or without an init system, so one way serves both.
# The service IP is added by `ip addr add` only, which a reboot forgets. A host whose records say it
# serves (its sounz.status is a serving one) takes it back, once duplicate-address detection finds
# nobody holding it: at boot the peer cannot be asked reliably, so the LAN is asked instead; a newer
# server that took over meanwhile answers for the address, and this host stays without it. A standby
# (or a host whose status is down) never claims. The guard, started by its unit where systemd runs and
# by its own @reboot line elsewhere, then keeps watching as before.
# Config: $1 (default /etc/sounz/service-address), one line "IP PREFIX DEV LABEL", written by the
# claim of the service address and removed by its release.
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
record=${1:-/etc/sounz/service-address}
log=/var/log/sounz/sounz-general.log
mkdir -p /var/log/sounz
note() { printf '%s sounz-reclaim: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >>"$log"; }
[ -r "$record" ] || { note "no service address recorded ($record): this host did not serve; not claiming"; exit 0; }
read -r ip prefix dev label <"$record" || true
if [ -z "${ip:-}" ] || [ -z "${prefix:-}" ] || [ -z "${dev:-}" ] || [ -z "${label:-}" ]; then
  note "$record is not \"IP PREFIX DEV LABEL\": not claiming"; exit 0
fi
status=$(cat /etc/sounz/sounz.status 2>/dev/null) || status=none
case $status in
  production|production_alone|standby_as_production) ;;
  *) note "booted with sounz.status $status, not a serving status: not claiming $ip"; exit 0 ;;
esac
served=$(cat /etc/sounz/generation/served 2>/dev/null) || served=unknown
# cron may start before the interface has its address: wait for it, 30 s at most.
for i in $(seq 60); do
  ip -4 -o addr show dev "$dev" 2>/dev/null | grep -q ' inet ' && break
  sleep 0.5
done
if ip -4 -o addr show dev "$dev" 2>/dev/null | grep -qF " inet $ip/"; then note "this host holds $ip already"; exit 0; fi
# Duplicate-address detection, two probes a second apart: a boot is not in a hurry, a second holder is worse.
dad=0
out=$(arping -D -c 2 -w 3 -I "$dev" "$ip" 2>&1) || dad=$?
case $dad in
  0) ;;
  1)
    owner=$(printf '%s\n' "$out" | sed -n 's/^[^[]*\[\([^]]*\)\].*/\1/p' | head -n 1)
    note "booted with sounz.status $status (served since generation $served), but ${owner:-another machine} answers for $ip on $dev: a newer server holds it; not claiming"
    exit 0 ;;
  *)
    note "duplicate-address detection for $ip on $dev failed (arping exit $dad: $(printf '%s' "$out" | tr '\n' ' ')): not claiming"
    exit 0 ;;
esac
if ! ip addr add "$ip/$prefix" brd + dev "$dev" label "$label" 2>>"$log"; then note "adding $ip/$prefix to $dev failed"; exit 1; fi
note "booted with sounz.status $status (served since generation $served) and nobody answers for $ip: claimed $ip on $dev ($label) again"
# Gratuitous ARP: caches that held a MAC for the address follow this host.
arping -q -U -c 3 -I "$dev" "$ip" </dev/null >/dev/null 2>&1
exit 0
