# One of the replication command's files (providers/replicationScript.ts): the command, its settings, the
# pair's password and proof token. $1 path, $2 mode; the content on stdin. Atomic, and a no-op when the
# file already says it.
set -eu
mkdir -p "$(dirname "$1")"
tmp=$(mktemp "$1.XXXXXX")
cat >"$tmp"
if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else chmod "$2" "$tmp"; mv -f "$tmp" "$1"; fi
