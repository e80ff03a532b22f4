# The host's status file (providers/statusFile.ts). $1 file, $2 status, $3 the general log, $4 generation,
# $5 generation folder. Prints "created" when the file did not exist before, "written" or "unchanged"
# otherwise.
set -eu
file=$1 status=$2 log=$3 generation=$4 gen=$5
old=$(cat "$file" 2>/dev/null) || old=''
if [ -e "$file" ]; then made=written; else made=created; fi
mkdir -p "$gen"
if [ "$(cat "$gen/switch" 2>/dev/null)" != "$generation" ]; then
  printf '%s\n' "$generation" >"$gen/switch.tmp" && mv -f "$gen/switch.tmp" "$gen/switch"
fi
# A deployed host has all three records, so that a missing one is a fault the preflight names, never a 0:
# a host that never served or received a copy records 0 (created only if absent: the claim's own write wins).
for k in served data; do (set -C; printf '0\n' >"$gen/$k") 2>/dev/null || true; done
if [ "$old" = "$status" ]; then echo unchanged; exit 0; fi
tmp=$(mktemp "$file.XXXXXX")
printf '%s\n' "$status" >"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$file"
printf '%s sounz.status %s -> %s (pulumi, switch generation %s)\n' "$(date '+%Y-%m-%d %H:%M:%S')" "${old:-none}" "$status" "$generation" >>"$log"
echo "$made"
