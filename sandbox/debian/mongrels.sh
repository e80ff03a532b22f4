#!/bin/bash
# One mongrel stand-in unit per port of MONGREL_PORTS (sounz-mongrels.service): a mongrel that ends
# leaves the others running, as separate processes do on the real hosts.
MONGREL_PORTS="8000 8001 8002"
. /etc/sounz/sounz.conf 2>/dev/null || true
for p in $MONGREL_PORTS; do systemctl start --no-block "sounz-mongrel@$p.service"; done
