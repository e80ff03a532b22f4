# The old server's PostgreSQL again, after a handover that failed.
start
