# $1 config, $2 pidfile: the daemon stopped, its config and trust files gone.
set -eu
conf=$1 pidfile=$2
pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  kill "$pid"
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
rm -rf "$pidfile" "$conf" "$(secrets_of "$conf")" "$(proof_of "$conf")"
