# $1 config, $2 pidfile, $3 port, $4 the unit, $5 its file's content; on stdin what start.sh takes.
# Prints "running" only for our config and trust files, our unit active where systemd runs, and our
# daemon holding the port and greeting.
conf=$1 pidfile=$2 port=$3 unit=$4 unitfile=$5
IFS= read -r secret
IFS= read -r token
tmp=$(mktemp)
cat >"$tmp"
if cmp -s "$tmp" "$conf" && [ "$(cat "$(secrets_of "$conf")" 2>/dev/null)" = "$secret" ] &&
  [ "$(cat "$(proof_of "$conf")/token" 2>/dev/null)" = "$token" ] &&
  { ! systemd_runs || unit_ours "$unit" "$unitfile"; } && ours "$port" "$pidfile" "$unit"
then echo running; else echo stopped; fi
rm -f "$tmp"
