# The server's current WAL position.
q 'SELECT pg_current_wal_lsn()'
