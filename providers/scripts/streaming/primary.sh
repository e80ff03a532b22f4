# On the host that serves: writable, keeping WAL for its standby, the role's verifier from stdin.
start
promote promoted
read -r verifier
# The verifier travels on stdin too, never as an argument.
{ printf '\\set verifier %s\n' "'$verifier'"; cat <<'SQL'; } | as_pg "$pgbin/psql" -h /var/run/postgresql -p "$port" -qtAX -d postgres -v role="$role" >/dev/null
SELECT format('CREATE ROLE %I WITH LOGIN REPLICATION PASSWORD %L', :'role', :'verifier')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN REPLICATION PASSWORD %L', :'role', :'verifier') \gexec
SQL
if [ "$(q 'SHOW wal_keep_size')" = 0 ]; then q "ALTER SYSTEM SET wal_keep_size = '512MB'" >/dev/null; q 'SELECT pg_reload_conf()' >/dev/null; fi
