# The old server's side of a handover: shut down cleanly (the walsender sends the standby everything
# up to the shutdown checkpoint), then print that checkpoint's location.
stop
as_pg "$pgbin/pg_controldata" "$pgdata" | sed -n 's/^Latest checkpoint location: *//p'
