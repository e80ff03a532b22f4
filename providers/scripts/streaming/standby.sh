# $1 peer, $2 this host's name, $3 generation, $4 generation folder, $5 "rebuild" or "follow", $6 the server's data generation,
# $7 its slot on the peer.
# Streams from the peer: already so, or by following it with its own data (same cluster, no
# divergence: it starts streaming within 15 s), else by a base backup, the old directory kept aside.
peer=$1 name=$2 generation=$3 gen=$4 how=$5 data=$6 slot=$7
pgpass=$home/.pgpass
upstream="host=$peer port=$port user=$role passfile=$pgpass connect_timeout=5"
streaming() { [ "$(q "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming' AND sender_host = '$peer' AND slot_name = '$slot'" 2>/dev/null)" = 1 ]; }
wait_streaming() { for i in $(seq 1 "$1"); do streaming && return 0; sleep 0.2; done; return 1; }
follow() {
  auto=$pgdata/postgresql.auto.conf
  tmp=$(mktemp "$auto.XXXXXX")
  { grep -v '^primary_conninfo\|^primary_slot_name' "$auto" 2>/dev/null || true
    echo "primary_conninfo = '$upstream application_name=$name'"
    echo "primary_slot_name = '$slot'"; } >"$tmp"
  chown postgres:postgres "$tmp"; chmod 0600 "$tmp"; mv -f "$tmp" "$auto"
  as_pg touch "$pgdata/standby.signal"
}
# A standby keeps no slot of its own (one left from when it served would keep WAL here for nobody).
record() { drop_slots_but ''; mkdir -p "$gen"; printf '%s\n' "$data" >"$gen/data.tmp"; mv -f "$gen/data.tmp" "$gen/data"; }
if [ "$how" = follow ] && running && streaming; then record; echo "already streaming"; exit 0; fi
# One set-up at a time on a host: a killed up leaves its run going, and a second one would move the
# first one's kept directory. The lock lives in a root-only folder and ends with the run that holds it.
install -d -m 0700 /run/sounz-standby
lock=/run/sounz-standby/standby.lock
exec 9>>"$lock"
if ! flock -w 60 9; then
  # The holder: the process whose fd 9 holds the lock (its fdinfo lists it; /proc/locks, inside a PID
  # namespace, leaves out a lock whose taker, flock(1), has exited).
  holder=''
  for fd in /proc/[0-9]*/fd/9; do
    [ "$(readlink "$fd" 2>/dev/null)" = "$lock" ] && grep -q '^lock:' "${fd%/fd/9}/fdinfo/9" 2>/dev/null && { holder=${fd#/proc/}; holder=${holder%%/*}; break; }
  done
  echo "another standby set-up runs on $name (pid ${holder:-unknown}, running $(ps -o etimes= -p "${holder:-0}" 2>/dev/null | tr -d ' ') s) and held its lock for 60 s more: wait for it to end, or if an up that was killed left it, end it there (kill ${holder:-<pid>}), then run it again" >&2
  exit 1
fi
upstream_id=$(PGPASSFILE=$pgpass as_pg "$pgbin/psql" "$upstream replication=true dbname=replication" -qtAX -c IDENTIFY_SYSTEM | cut -d'|' -f1)
[ -n "$upstream_id" ] || { echo "$peer does not answer as the replication role" >&2; exit 1; }
own_id=$(as_pg "$pgbin/pg_controldata" "$pgdata" 2>/dev/null | sed -n 's/^Database system identifier: *//p' || true)
if [ "$how" = follow ] && [ "$own_id" = "$upstream_id" ]; then
  stop; follow; start
  if wait_streaming 75; then record; note "follows $peer with its own data"; echo "follows $peer"; exit 0; fi
  note "could not follow $peer with its own data: a base backup instead"
fi
stop
kept=''
if [ -e "$pgdata" ]; then
  kept=$pgdata.kept-$(date '+%Y%m%d-%H%M%S')-g$generation
  mv "$pgdata" "$kept"
  note "kept the previous data directory as $kept"
fi
install -d -o postgres -g postgres -m 0700 "$pgdata"
# The backup makes the slot afresh (-C): one the server lost, or kept from before, cannot serve it.
# WAIT: the server may count it active for a moment after this host's stream stopped.
PGPASSFILE=$pgpass timeout 30 runuser -u postgres -- "$pgbin/psql" "$upstream replication=true dbname=replication" -qtAX -c "DROP_REPLICATION_SLOT $slot WAIT" >/dev/null 2>&1 || true
if ! PGPASSFILE=$pgpass as_pg "$pgbin/pg_basebackup" -d "$upstream" -D "$pgdata" -X stream -C -S "$slot" -c fast >"$home/sounz-basebackup.log" 2>&1; then
  rm -rf "$pgdata"
  if [ -n "$kept" ]; then mv "$kept" "$pgdata"; start || true; fi
  echo "pg_basebackup from $peer failed, the previous data directory is back: $(tail -n 3 "$home/sounz-basebackup.log")" >&2
  exit 1
fi
# The configuration is this host's own (its addresses), not the peer's.
if [ -n "$kept" ]; then for f in postgresql.conf pg_hba.conf pg_ident.conf; do [ -e "$kept/$f" ] && cp -p "$kept/$f" "$pgdata/$f"; done; fi
follow; start
wait_streaming 150 || { echo "the base backup of $peer started, but does not stream from it within 30 s" >&2; exit 1; }
record
note "rebuilt from $peer by a base backup${kept:+, the previous data directory kept as $kept}"
echo "rebuilt from $peer${kept:+; kept: $kept}"
echo "just kept: $kept"
