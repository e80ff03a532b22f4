# Put before each script of this folder (providers/streamingReplication.ts), after args.sh and ../cluster.sh.
find_cluster "$version" "$cluster"
home=$(getent passwd postgres | cut -d: -f6)
log=/var/log/sounz/sounz-general.log
note() { printf '%s streaming-replication: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >>"$log"; }
as_pg() { runuser -u postgres -- "$@"; }
q() { as_pg "$pgbin/psql" -h /var/run/postgresql -p "$port" -qtAX -d postgres -c "$1"; }
if [ "$managed" = yes ]; then
  running() { pg_ctlcluster "$version" "$cluster" status >/dev/null 2>&1; }
  # The server outlives the script: it inherits none of its descriptors (fd 9 holds the standby set-up's lock).
  start() { running || pg_ctlcluster "$version" "$cluster" start 9>&-; }
  stop() { if running; then pg_ctlcluster "$version" "$cluster" stop -m fast; fi; }
else
  running() { as_pg "$pgbin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; }
  start() { running || { rm -f "$pgdata/postmaster.pid"; as_pg "$pgbin/pg_ctl" -D "$pgdata" -l "$home/sounz-postgresql.log" -w -t 60 start >/dev/null 9>&-; }; }
  stop() { if running; then as_pg "$pgbin/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null; fi; }
fi
# Drops the standby slots (model/continuous.ts standbySlot) on this host but $1: a slot nobody streams
# through would keep WAL here until it is lost.
drop_slots_but() { q "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'sounz\_%' AND slot_name <> '$1' AND NOT active" >/dev/null; }
# Prints $1 once a hot standby is writable; nothing for a database that already is.
promote() {
  [ "$(q 'SELECT pg_is_in_recovery()')" = t ] || return 0
  q 'SELECT pg_promote(true, 60)' | grep -qx t || { echo "pg_promote did not finish within 60 s" >&2; exit 1; }
  note "$1"; echo "$1"
}
