# On the host that serves: writable, keeping WAL for its standby, the role's verifier from stdin.
# $1 its standby's slot ("" when it has none), $2 the most WAL that slot may keep (MB).
slot=$1 slot_keep=$2
start
promote promoted
read -r verifier
# The verifier travels on stdin too, never as an argument.
{ printf '\\set verifier %s\n' "'$verifier'"; cat <<'SQL'; } | as_pg "$pgbin/psql" -h /var/run/postgresql -p "$port" -qtAX -d postgres -v role="$role" >/dev/null
SELECT format('CREATE ROLE %I WITH LOGIN REPLICATION PASSWORD %L', :'role', :'verifier')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN REPLICATION PASSWORD %L', :'role', :'verifier') \gexec
SQL
# The slot keeps the WAL its standby has not received, up to max_slot_wal_keep_size: beyond it, the slot is
# lost (wal_status "lost") and the standby needs a rebuild. The slots of hosts that are not its standby go.
if [ "$(q "SELECT setting FROM pg_settings WHERE name = 'max_slot_wal_keep_size'")" != "$slot_keep" ]; then
  q "ALTER SYSTEM SET max_slot_wal_keep_size = '${slot_keep}MB'" >/dev/null; q 'SELECT pg_reload_conf()' >/dev/null
fi
drop_slots_but "$slot"
if [ -n "$slot" ]; then
  q "SELECT pg_create_physical_replication_slot('$slot', true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$slot')" >/dev/null
fi
if [ "$(q 'SHOW wal_keep_size')" = 0 ]; then q "ALTER SYSTEM SET wal_keep_size = '512MB'" >/dev/null; q 'SELECT pg_reload_conf()' >/dev/null; fi
