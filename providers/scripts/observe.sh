#!/bin/sh
# The preflight's one look at a host (components/preflight.ts): its records and what its part in a switch
# needs, as key=value lines.
# $1 service IP, $2 interface, $3 database, $4 dump folder, $5 generation folder, $6 replication command,
# $7 $8 $9 the PostgreSQL cluster's version, name and port (sounz:postgresql), then the commands the host needs.
# After ./cluster.sh.
cd / && ip=$1 dev=$2 db=$3 dumps=$4 gen=$5 replicate=$6 version=$7 cluster=$8 PGPORT=$9; shift 9
export PGPORT
# The host's clock first, as near the operator's send time as the script gets (components/preflight.ts).
echo "clock=$(date +%s.%N)"
echo "status=$(cat /etc/sounz/sounz.status 2>/dev/null)"
if [ -e /etc/sounz/sounz.status ]; then echo deployed=yes; else echo deployed=no; fi
# A record as it is: <missing> or <unreadable> rather than a number, never a made-up 0 (the preflight decides;
# a runbook host with a status file but no records at all is one the program has not deployed yet).
for k in switch served data; do
  if [ ! -e "$gen/$k" ]; then v='<missing>'; else v=$(head -c 64 "$gen/$k" 2>/dev/null) || v='<unreadable>'; fi
  echo "$k=$(printf '%s' "$v" | tr '\n\r' '  ')"
done
if ip -4 -o addr show | grep -qF " inet $ip/"; then echo held=yes; else echo held=no; fi
echo "addresses=$(ip -4 -o addr show dev "$dev" 2>/dev/null | awk '{ print $4 }' | tr '\n' ' ')"
echo "mac=$(ip -o link show dev "$dev" 2>/dev/null | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p')"
echo "lastcopy=$(cat /etc/sounz/last-replication 2>/dev/null || echo never)"
missing=''
for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing="$missing $c"; done
echo "missing=$missing"
# The replication command tells, without taking its lock (which could turn a nightly run away), and
# names the holder (pid, how long, doing what), so that a run a killed up left behind can be ended.
# Without the command, none runs.
replication=idle
if [ -x "$replicate" ]; then
  state=$("$replicate" state 2>/dev/null || true)
  if echo "$state" | grep -qx lock=held; then replication=running; fi
  echo "$state" | sed -n 's/^lock_holder=/replication_holder=/p'
fi
echo "replication=$replication"
find_cluster "$version" "$cluster"
echo "cluster=$(cluster_found "$version" "$cluster" "$PGPORT")"
echo "database=$(echo "select pg_database_size(:'db')" | runuser -u postgres -- psql -qtAX -v db="$db" 2>/dev/null)"
echo "readonly=$(echo "select count(*) from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase
  where d.datname = :'db' and s.setrole = 0 and 'default_transaction_read_only=on' = any(s.setconfig)" |
  runuser -u postgres -- psql -qtAX -v db="$db" 2>/dev/null)"
echo "recovery=$(echo 'select pg_is_in_recovery()' | runuser -u postgres -- psql -qtAX 2>/dev/null)"
# A hot standby's stream (continuous mode): the WAL receiver's status and upstream, and how far its replay is behind in bytes.
echo "receiver=$(echo "select status || ' from ' || coalesce(sender_host, '?') || ', ' ||
  coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text, '?') || ' bytes not replayed' from pg_stat_wal_receiver" |
  runuser -u postgres -- psql -qtAX 2>/dev/null | head -n 1)"
# A hot standby's last replayed commit (its server's clock, ISO 8601 UTC): how far behind a promotion now would start.
echo "replayed=$(echo "select to_char(pg_last_xact_replay_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')" |
  runuser -u postgres -- psql -qtAX 2>/dev/null)"
# Continuous mode: the replication slots the server keeps for its standby (model/continuous.ts standbySlot), one
# "<name> <active: true or false> <wal_status> <bytes retained>" each, comma-separated.
echo "slots=$(echo "select string_agg(slot_name || ' ' || active || ' ' || coalesce(wal_status, '?') || ' ' ||
  coalesce(pg_wal_lsn_diff(coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn()), restart_lsn)::bigint::text, '?'), ',')
  from pg_replication_slots where slot_type = 'physical' and slot_name like 'sounz\_%'" |
  runuser -u postgres -- psql -qtAX 2>/dev/null)"
dir=$dumps; while [ ! -d "$dir" ]; do dir=$(dirname "$dir"); done
echo "free=$(df -PB1 "$dir" | awk 'NR == 2 { print $4 }')"
# Where a restore builds its database: PostgreSQL's data directory, as the server names it (nothing when it does not answer).
pgdata=$(runuser -u postgres -- psql -qtAX -c 'show data_directory' 2>/dev/null || true)
[ -z "$pgdata" ] || echo "pgfree=$(df -PB1 "$pgdata" | awk 'NR == 2 { print $4 }')"
