# "stopped", "primary", "streaming from <address>" or "standby, not streaming".
if ! running; then echo stopped; exit 0; fi
if [ "$(q 'SELECT pg_is_in_recovery()')" = f ]; then echo primary; exit 0; fi
sender=$(q "SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'")
if [ -n "$sender" ]; then echo "streaming from $sender"; else echo "standby, not streaming"; fi
