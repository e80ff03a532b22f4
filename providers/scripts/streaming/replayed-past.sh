# $1 the old server's last LSN, $2 tenths of a second to wait: the standby has replayed past it.
target=$1 tries=$2
for i in $(seq 1 "$tries"); do
  [ "$(q "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$target') > 0")" = t ] && { q 'SELECT pg_last_wal_replay_lsn()'; exit 0; }
  sleep 0.1
done
echo "replayed only up to $(q 'SELECT pg_last_wal_replay_lsn()'), the old server's last write is at $target" >&2; exit 1
