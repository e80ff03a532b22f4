# $1 command, $2 cron file, $3 the cron file's content, $4 the unit, $5 the unit file's content, then the
# run arguments; the script on stdin. Restarts the loop only when the script or its arguments changed.
# Where systemd runs the unit starts it (no cron file, no pidfile); elsewhere the cron file restarts it.
set -eu
cmd=$1 cronfile=$2 cron=$3 unit=$4 unitfile=$5; shift 5
mkdir -p "$(dirname "$cmd")" /run/sounz /var/log/sounz
changed=no
tmp=$(mktemp "$cmd.XXXXXX")
cat >"$tmp"
if cmp -s "$tmp" "$cmd"; then rm -f "$tmp"; else chmod 0755 "$tmp"; mv -f "$tmp" "$cmd"; changed=yes; fi
if systemd_runs; then
  unit_write "$unit" "$unitfile" && changed=yes
  unit_run "$unit" "$changed"
  echo running
  exit 0
fi
tmp=$(mktemp "$(dirname "$cronfile")/.sounz-guard.XXXXXX")
printf '%s' "$cron" >"$tmp"
if cmp -s "$tmp" "$cronfile"; then rm -f "$tmp"; else chmod 0644 "$tmp"; mv -f "$tmp" "$cronfile"; changed=yes; fi
if [ "$changed" = yes ]; then "$cmd" restart "$@"; else "$cmd" start "$@"; fi
