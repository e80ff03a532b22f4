# The replication jobs' file in /etc/cron.d (providers/replicationCron.ts). $1 file; the wanted content on
# stdin. Written atomically, like the status file; the temporary name has a dot, so cron never reads it.
set -eu
file=$1
tmp=$(mktemp "/etc/cron.d/.sounz.XXXXXX")
cat >"$tmp"
if cmp -s "$tmp" "$file"; then rm -f "$tmp"; echo kept; exit 0; fi
chmod 0644 "$tmp"
mv -f "$tmp" "$file"
echo written
