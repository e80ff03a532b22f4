# $1...: kept data directories to delete; anything else is refused.
for d in "$@"; do
  case "$d" in "$pgdata".kept-*) ;; *) echo "$d is not a kept data directory of $pgdata" >&2; exit 1 ;; esac
  rm -rf -- "$d"
  note "deleted the kept data directory $d (sounz:replication.keepDataDirectories)"
done
