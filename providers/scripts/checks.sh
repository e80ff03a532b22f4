# The runbook's post-switch checks on the host that serves (providers/serviceChecks.ts). $1 service IP,
# $2 database, $3 apollo port, $4 "mongrel ports", $5 "rsync ports", $6 the application's role or "",
# $7 interface, then the logs. One line per check: "<name>|ok" or "<name>|<what it saw>".
# The database check counts the tables the role cannot read: a copy that lost its owners and grants
# fails it (as postgres, a superuser, every table is readable).
# Before this file the provider defines others_answering (OTHERS_ANSWERING, which `status` runs too).
cd / && ip=$1 db=$2 apollo=$3 mongrels=$4 rsyncs=$5 role=$6 dev=$7; shift 7
listens() { ss -Hltn "sport = :$1" | grep -q .; }
if ip -4 -o addr show | grep -qF " inet $ip/"; then echo "service IP on this host|ok"; else echo "service IP on this host|$ip is not configured here"; fi
# Duplicate-address detection from the holder: any answer comes from another machine holding the address too.
others=$(others_answering)
if [ -z "$others" ]; then echo "no other machine answers for the service IP|ok"
else echo "no other machine answers for the service IP|$ip is also answered for by $others(two holders)"; fi
if listens "$apollo"; then echo "Apollo listens on $apollo|ok"; else echo "Apollo listens on $apollo|nothing listens on port $apollo"; fi
for port in $mongrels; do
  if listens "$port"; then echo "mongrel on $port|ok"; else echo "mongrel on $port|nothing listens on port $port"; fi
done
for port in $rsyncs; do
  if listens "$port"; then echo "rsync daemon on $port|ok"; else echo "rsync daemon on $port|nothing listens on port $port"; fi
done
for how in tcp socket; do
  if [ "$how" = tcp ]; then host=127.0.0.1; else host=/var/run/postgresql; fi
  if out=$(runuser -u postgres -- psql -w -h "$host" -d "$db" ${role:+-U "$role"} -tAc "select count(*) from pg_tables
      where schemaname not in ('pg_catalog', 'information_schema')
      and not has_table_privilege(format('%I.%I', schemaname, tablename), 'select')" 2>&1) && [ "$out" = 0 ]; then
    echo "PostgreSQL database $db over $how|ok"
  elif [ "$out" -gt 0 ] 2>/dev/null; then echo "PostgreSQL database $db over $how|${role:-postgres} cannot read $out tables"
  else echo "PostgreSQL database $db over $how|$(echo "$out" | head -n 1)"; fi
done
ro=$(runuser -u postgres -- psql -d "$db" -tAc 'show default_transaction_read_only' 2>&1)
if [ "$ro" = off ]; then echo "PostgreSQL database $db takes writes|ok"; else echo "PostgreSQL database $db takes writes|default_transaction_read_only is $ro"; fi
for log in "$@"; do
  if [ -e "$log" ]; then echo "log $log|ok"; else echo "log $log|missing"; fi
done
