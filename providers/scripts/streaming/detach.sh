# Back to the nightly mode: a hot standby becomes a database of its own, which the nightly restore replaces.
start
promote 'detached from streaming replication (nightly mode): writable on its own'
