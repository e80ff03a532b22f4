#!/bin/bash
# One mongrel stand-in per port of MONGREL_PORTS (sounz-mongrels.service); ends when any of them ends.
MONGREL_PORTS="8000 8001 8002"
. /etc/sounz/sounz.conf 2>/dev/null || true
for p in $MONGREL_PORTS; do
  /usr/bin/node /usr/local/lib/sounz-sandbox/standin.js mongrel "$p" ruby script/server -p "$p" 2>>/var/log/sounz/sounz-general.log &
done
wait -n
