# The release of the service IP (providers/serviceAddress.ts). $1 ip, $2 prefix, $3 interface, then the
# boot-time script, its cron file and the address's record: a host that does not serve has none of them,
# so a reboot never makes it claim.
set -eu
ip=$1 prefix=$2 dev=$3; shift 3
rm -f "$@"
if ip -4 -o addr show dev "$dev" | grep -qF " inet $ip/"; then ip addr del "$ip/$prefix" dev "$dev"; echo removed; else echo absent; fi
