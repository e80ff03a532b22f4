# $1 config, $2 pidfile, $3 the unit: the daemon stopped, its unit (if any), config and trust files gone.
set -eu
conf=$1 pidfile=$2 unit=$3
unit_remove "$unit"
pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  kill "$pid"
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
rm -rf "$pidfile" "$conf" "$(secrets_of "$conf")" "$(proof_of "$conf")"
