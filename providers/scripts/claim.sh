# The claim of the service IP (providers/serviceAddress.ts). $1 ip, $2 prefix, $3 interface, $4 label,
# $5 generation, $6 generation folder, $7 replication command, $8 the boot-time script's path, $9 its cron
# file, $10 the cron file's content, $11 the address's record; the boot-time script on stdin. Idempotent:
# an address already here is kept (and keeps the generation it was first served in).
# Before this file the provider sets address_in_use (the exit code when another machine answers for the
# address, ADDRESS_IN_USE) and sender_mac (the sed expression that prints the MAC of whoever answered
# arping, ARPING_SENDER_MAC from ../ssh.ts), so that the program keeps one copy of each.
set -eu
ip=$1 prefix=$2 dev=$3 label=$4 generation=$5 gen=$6 replicate=$7 reclaim=$8 cronfile=$9 cron=${10} held=${11}
record() { mkdir -p "$gen"; printf '%s\n' "$2" >"$gen/$1.tmp"; mv -f "$gen/$1.tmp" "$gen/$1"; }
# What a reboot needs to take the address back: the script, its @reboot line, the address.
remember() {
  mkdir -p "$(dirname "$reclaim")" "$(dirname "$held")"
  cat >"$reclaim.tmp"; chmod 0755 "$reclaim.tmp"; mv -f "$reclaim.tmp" "$reclaim"
  printf '%s' "$cron" >"$cronfile.tmp"; chmod 0644 "$cronfile.tmp"; mv -f "$cronfile.tmp" "$cronfile"
  printf '%s %s %s %s\n' "$ip" "$prefix" "$dev" "$label" >"$held.tmp"; mv -f "$held.tmp" "$held"
}
# A server takes writes: undo the freeze of an earlier final grab, if any (the program installs the
# command before any claim; a host without it has no database of ours). It runs while duplicate-address
# detection waits, and has ended (or failed the claim) before the address is added. Before it, any
# replication run here ends and puts back what it staged: no copy lands on a server.
thawing=''
if [ -x "$replicate" ]; then { "$replicate" stop-runs "this host is claiming the service IP" && "$replicate" thaw; } >/dev/null & thawing=$!; fi
thawed() { if [ -n "$thawing" ]; then wait "$thawing"; fi; }
if ip -4 -o addr show dev "$dev" | grep -qF " inet $ip/"; then
  thawed
  [ "$(cat "$gen/served" 2>/dev/null || echo 0)" != 0 ] || { record served "$generation"; record data "$generation"; }
  remember
  echo kept; exit 0
fi
# Duplicate-address detection: no answer within half a second (timeout's 124) means the address is
# free; a LAN host answers ARP in milliseconds.
dad=0
timeout 0.5 arping -q -D -c 1 -w 1 -I "$dev" "$ip" || dad=$?
case $dad in
  0|124) ;;
  1)
    owner=$(arping -c 1 -w 1 -I "$dev" "$ip" 2>/dev/null | sed -n "$sender_mac" | head -n 1)
    echo "$ip is still answered for by ${owner:-another machine} on $dev: someone else holds the service IP" >&2
    exit "$address_in_use" ;;
  *)
    echo "duplicate-address detection for $ip on $dev failed (arping exit $dad)" >&2
    exit 1 ;;
esac
thawed
ip addr add "$ip/$prefix" brd + dev "$dev" label "$label"
# Recorded at once: from here on this host's data is the newest.
record served "$generation"
record data "$generation"
remember
# Gratuitous ARP, the first at once, two more a second apart for those that missed it; arping
# lingers a second after each, so it runs on in the background.
arping -q -U -c 3 -I "$dev" "$ip" </dev/null >/dev/null 2>&1 &
echo added
