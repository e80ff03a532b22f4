#!/bin/bash
# Per-host helper of the sounz sandbox. Driven by sandbox/hosts.ts and provision.ts; copied to $SB/bin/host.sh at `up`.
#   host.sh files <name> <addr> <initial-status>   (root namespace) create the host's persistent files if missing
#   host.sh start <name> <addr>                    (inside the host's mount/UTS/net namespaces) mounts + services
#   host.sh check <name>                           (inside the host) one line per service: "<svc> ok|down"
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cmd=$1; name=$2
H=$SB/hosts/$name
PGBIN=/usr/lib/postgresql/15/bin
PGDATA=/var/lib/postgresql/15/main
MONGREL_PORTS_DEFAULT="8000 8001 8002"

# persistent dir -> runbook path inside the host: the binds of both kinds of host, and what a
# namespace host keeps outside its root (a Debian host keeps them in its root's upper layer). Its own,
# empty /etc/postgresql: its cluster is a self-contained data directory (initdb's layout), so that
# postgresql-common lists no cluster of this machine's there.
MOUNTS=("${BINDS[@]}" "postgresql:/var/lib/postgresql" "etc-postgresql:/etc/postgresql" "root-home:/root" "spool-cron:/var/spool/cron")

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pidof_file() { [ -s "$1" ] && head -n1 "$1" | tr -dc 0-9 || true; }
running() { local p; p=$(pidof_file "$1"); alive "$p"; }

case "$cmd" in
files)
  addr=$3; initial=$4
  umask 022
  mkdir -p "$H"
  for m in "${MOUNTS[@]}"; do mkdir -p "$H/${m%%:*}"; done
  mkdir -p "$H/etc-upper" "$H/etc-work" "$H/ssh"
  chmod 700 "$H/ssh"
  [ -f "$H/ssh/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$H/ssh/ssh_host_ed25519_key"
  if [ ! -f "$H/etc-sounz/sounz.conf" ]; then
    cat > "$H/etc-sounz/sounz.conf" <<EOF
# SOUNZ configuration (sandbox host $name)
# Internal-network addresses of the designated primary (nominal Production) and secondary (nominal Standby) servers.
IP_PRIMARY_SERVER="$SLAYER"
IP_SECONDARY_SERVER="$MEGADETH"
MONGREL_PORTS="$MONGREL_PORTS_DEFAULT"
sounz_rsync_port=18993
EOF
  fi
  [ -f "$H/etc-sounz/sounz.status" ] || echo "$initial" > "$H/etc-sounz/sounz.status"
  if [ ! -f "$H/etc-apollo/apollo.conf" ]; then
    cat > "$H/etc-apollo/apollo.conf" <<EOF
# Apollo (Solr) configuration (sandbox host $name)
APOLLO_PORT=8983
apollo_rsync_port=18983
EOF
  fi
  mkdir -p "$H/log-sounz/sounz-app" "$H/log-sounz/apache2" "$H/lib-apollo/data/index"
  touch "$H/log-sounz/sounz-app/production.log" "$H/log-sounz/apache2/sounz.org.nz-access.log" \
        "$H/log-sounz/apache2/sounz.org.nz-error.log" "$H/log-sounz/sounz-general.log" "$H/log-apollo/apollo.log"
  mkdir -p "$H/usr-share-sounz/scripts/dr"
  chmod 755 "$H/cron.d"
  chmod 700 "$H/root-home"
  mkdir -p "$H/spool-cron/crontabs"
  chgrp crontab "$H/spool-cron/crontabs" 2>/dev/null || true
  chmod 1730 "$H/spool-cron/crontabs"
  # /etc/hosts of the host (overlay upper layer): the runbook's hostnames resolve to sandbox addresses
  if [ ! -f "$H/etc-upper/hosts" ]; then
    { cat /etc/hosts 2>/dev/null | grep -vwE 'slayer|megadeth' || true
      echo "$SLAYER slayer"; echo "$MEGADETH megadeth"; } > "$H/etc-upper/hosts"
  fi
  echo "$name" > "$H/etc-upper/hostname"
  mkdir -p "$H/postgresql"
  chown postgres:postgres "$H/postgresql"
  cat > "$H/sshd_config" <<EOF
# sshd of sandbox host $name (generated)
ListenAddress $addr:22
HostKey $H/ssh/ssh_host_ed25519_key
PidFile /run/sshd-sounz.pid
AuthorizedKeysFile $SB/keys/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  ;;

start)
  addr=$3
  # --- mounts (private mount namespace; nothing propagates to the root namespace) ---
  if ! mountpoint -q /run || [ ! -f /run/.sounz-host ]; then
    mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
    echo "$name" > /run/.sounz-host
  fi
  mountpoint -q /tmp && [ -f /tmp/.sounz-host ] || { mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp; echo "$name" > /tmp/.sounz-host; }
  if ! grep -q " /etc overlay " /proc/self/mounts; then
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$H/etc-upper,workdir=$H/etc-work" /etc
  fi
  for m in "${MOUNTS[@]}"; do
    src=$H/${m%%:*}; dst=${m#*:}
    if ! mountpoint -q "$dst"; then
      mkdir -p "$dst"   # under /etc this lands in the host's overlay; the others exist (made by provision.ts if missing)
      mount --bind "$src" "$dst"
    fi
  done
  hostname "$name"
  mkdir -p /run/sshd /run/sounz /run/apollo
  chmod 755 /run/sshd
  install -d -o postgres -g postgres -m 2775 /run/postgresql
  # --- PostgreSQL 15: the host's own cluster ---
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    install -d -o postgres -g postgres -m 700 "$PGDATA"
    runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=trust -E UTF8 --locale=C.UTF-8 >/var/lib/postgresql/initdb.log 2>&1
    echo "host all all $addr/32 trust" >> "$PGDATA/pg_hba.conf"
    cat >> "$PGDATA/postgresql.conf" <<EOF
# sounz sandbox
listen_addresses = '$addr,127.0.0.1'
port = 5432
unix_socket_directories = '/var/run/postgresql'
logging_collector = off
EOF
  fi
  if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    rm -f "$PGDATA/postmaster.pid"   # left by a killed host: no postgres of this host runs now
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l /var/lib/postgresql/postgresql-15-main.log -w -t 60 start >/dev/null
  fi
  if ! runuser -u postgres -- "$PGBIN/psql" -h /var/run/postgresql -Atqc "select 1 from pg_database where datname='sounz'" postgres | grep -q 1; then
    runuser -u postgres -- "$PGBIN/createdb" -h /var/run/postgresql sounz
  fi
  # --- sshd ---
  running /run/sshd-sounz.pid || /usr/sbin/sshd -f "$H/sshd_config" -E /var/log/sounz/sshd.log </dev/null >/dev/null 2>&1
  # --- cron (reads the host's /etc/cron.d) ---
  running /run/crond.pid || /usr/sbin/cron </dev/null >/dev/null 2>&1
  # --- stand-ins ---
  S=$SB/bin/standin.js
  running /run/sounz/web.pid || setsid -f /usr/bin/node "$S" web apache2 </dev/null >/dev/null 2>>/var/log/sounz/apache2/sounz.org.nz-error.log
  running /run/apollo/apollo.pid || setsid -f /usr/bin/node "$S" apollo java -jar start.jar </dev/null >/dev/null 2>>/var/log/apollo/apollo.log
  MONGREL_PORTS=$MONGREL_PORTS_DEFAULT
  . /etc/sounz/sounz.conf 2>/dev/null || true
  for p in $MONGREL_PORTS; do
    running /run/sounz/mongrel.$p.pid || setsid -f /usr/bin/node "$S" mongrel "$p" ruby script/server -p "$p" </dev/null >/dev/null 2>>/var/log/sounz/sounz-general.log
  done
  # wait (max ~10 s) for the listeners' pidfiles
  for i in $(seq 1 100); do
    ok=1
    for f in /run/sounz/web.pid /run/apollo/apollo.pid /run/sshd-sounz.pid; do [ -s "$f" ] || ok=0; done
    for p in $MONGREL_PORTS; do [ -s /run/sounz/mongrel.$p.pid ] || ok=0; done
    [ $ok = 1 ] && break
    sleep 0.1
  done
  ;;

check)
  st() { if running "$2"; then echo "$1 ok"; else echo "$1 down"; fi; }
  [ "$(hostname)" = "$name" ] && echo "hostname ok" || echo "hostname down"
  mountpoint -q /etc/sounz && echo "mounts ok" || echo "mounts down"
  st sshd /run/sshd-sounz.pid
  st cron /run/crond.pid
  st web /run/sounz/web.pid
  st apollo /run/apollo/apollo.pid
  MONGREL_PORTS=$MONGREL_PORTS_DEFAULT
  . /etc/sounz/sounz.conf 2>/dev/null || true
  for p in $MONGREL_PORTS; do st "mongrel.$p" /run/sounz/mongrel.$p.pid; done
  if runuser -u postgres -- "$PGBIN/pg_isready" -q -h /var/run/postgresql; then echo "postgresql ok"; else echo "postgresql down"; fi
  ;;
*)
  echo "usage: host.sh files|start|check <name> ..." >&2; exit 2;;
esac
