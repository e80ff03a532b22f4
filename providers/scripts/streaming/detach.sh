# Back to the nightly mode: a hot standby becomes a database of its own, which the nightly restore replaces.
start
drop_slots_but ''
promote 'detached from streaming replication (nightly mode): writable on its own'
