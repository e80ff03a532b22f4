// Where the runbook's pieces live on each host, for the providers that install them and for the
// preflight that reads them (which must not load @pulumi/pulumi: the operator commands start it first).
/** The replication command (the runbook's scripts folder), installed by ReplicationScript. */
export const REPLICATE_COMMAND = '/usr/share/sounz/scripts/dr/sounz-replicate';
/** Prints the receiver's stamp of its last good copy ("<time of the dump> <source>"), or "never". */
export const LAST_REPLICATION = `cat /etc/sounz/last-replication 2>/dev/null || echo never`;
