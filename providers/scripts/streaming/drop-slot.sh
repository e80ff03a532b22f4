# $1 the slot of a host that is no longer a standby (detached: nightly mode): without it, the server would keep WAL for nobody.
# Its stream ends as it is promoted: the server may still count the slot active for a moment.
for i in $(seq 1 50); do
  [ "$(q "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$1' AND active")" = 0 ] && break
  sleep 0.1
done
q "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$1' AND NOT active" >/dev/null
