# $1 command, $2 cron file, $3 its content, $4 pidfile, $5 the unit, $6 its file's content; the script on
# stdin. Prints "running" only for our script and a live loop: our unit active where systemd runs, our
# cron file and the loop of the pidfile elsewhere.
cmd=$1 cronfile=$2 cron=$3 pidfile=$4 unit=$5 unitfile=$6
tmp=$(mktemp)
cat >"$tmp"
if systemd_runs; then
  if cmp -s "$tmp" "$cmd" && unit_ours "$unit" "$unitfile"; then echo running; else echo stopped; fi
else
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if cmp -s "$tmp" "$cmd" && [ "$(cat "$cronfile" 2>/dev/null)" = "$(printf '%s' "$cron")" ] && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
  then echo running; else echo stopped; fi
fi
rm -f "$tmp"
