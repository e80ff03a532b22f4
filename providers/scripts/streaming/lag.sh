# Lag, from the standby: "<seconds since the last replayed commit>|<its time, epoch seconds>|<receive - replay bytes>|<replay lsn>|<now, epoch seconds>".
q "SELECT coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::text, ''), coalesce(extract(epoch FROM pg_last_xact_replay_timestamp())::text, ''),
  coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text, ''), coalesce(pg_last_wal_replay_lsn()::text, ''), extract(epoch FROM now())"
