# $1 command, $2 cron file, $3 pidfile, $4 the unit. Without the script: the loop is ended by its unit
# or its pidfile.
set -eu
cmd=$1 cronfile=$2 pidfile=$3 unit=$4
unit_remove "$unit"
rm -f "$cronfile"
pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid"
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
rm -f "$pidfile" "$cmd"
echo removed
