# $1 config, $2 pidfile, $3 port, $4 the unit, $5 its file's content, then the served paths; on stdin
# the secrets line ("user:password"), the proof token and the wanted config. Restarts only when the
# config or the unit changed (the daemon reads the secrets file and the token at every connection).
# Where systemd runs the unit runs the daemon (no pidfile); elsewhere it detaches with the pidfile. A
# served path that does not exist yet (a fresh index) is made empty, so that a pull gets an empty tree
# rather than an error.
set -eu
conf=$1 pidfile=$2 port=$3 unit=$4 unitfile=$5; shift 5
secrets=$(secrets_of "$conf") proof=$(proof_of "$conf")
mkdir -p "$(dirname "$pidfile")" "$@"
IFS= read -r secret
IFS= read -r token
(umask 077
  printf '%s\n' "$secret" >"$secrets.partial" && mv -f "$secrets.partial" "$secrets"
  mkdir -p "$proof" && chmod 0700 "$proof"
  printf '%s\n' "$token" >"$proof/token.partial" && mv -f "$proof/token.partial" "$proof/token")
tmp=$(mktemp "$conf.XXXXXX")
cat >"$tmp"
changed=yes
if cmp -s "$tmp" "$conf"; then changed=no; rm -f "$tmp"; else mv -f "$tmp" "$conf"; fi
if systemd_runs; then
  unit_write "$unit" "$unitfile" && changed=yes
  [ "$changed" = no ] && unit_ours "$unit" "$unitfile" && ours "$port" "$pidfile" "$unit" && { echo kept; exit 0; }
  unit_run "$unit" yes
else
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    [ "$changed" = no ] && ours "$port" "$pidfile" "$unit" && { echo kept; exit 0; }
    kill "$pid"
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
  rsync --daemon --config="$conf" --dparam=pidfile="$pidfile" </dev/null >/dev/null 2>&1
fi
end=$(($(date +%s) + 5))
until ours "$port" "$pidfile" "$unit"; do
  if [ "$(date +%s)" -ge "$end" ]; then
    holders=$(holders "$port")
    echo "no rsync daemon of ours answers on port $port within 5 s (listening there: ${holders:-nothing}); see /var/log/sounz/sounz-general.log" >&2
    exit 1
  fi
  sleep 0.1
done
echo started
