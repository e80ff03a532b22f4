# $1 a slot: "<name> <active: true or false> <wal_status> <bytes retained>" (model/continuous.ts parseSlots), nothing without it.
q "SELECT slot_name || ' ' || active || ' ' || coalesce(wal_status, '?') || ' ' || coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text, '?')
  FROM pg_replication_slots WHERE slot_name = '$1'"
