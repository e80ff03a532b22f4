# Put before a script that needs the PostgreSQL cluster (sounz:postgresql). find_cluster <version> <name>
# sets pgbin, pgdata, confdir and managed. The cluster postgresql-common lists (pg_lsclusters) is run its
# way: pg_ctlcluster, which hands over to systemd where systemd runs, so that the unit
# postgresql@<version>-<name> always knows the server's state; its configuration is where
# postgresql-common keeps it. Else a self-contained data directory (initdb's layout, its configuration
# inside), run by pg_ctl.
find_cluster() {
  pgbin=/usr/lib/postgresql/$1/bin
  listed=$(pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="$2" '$1 == v && $2 == c { print $3, $6; exit }')
  if [ -n "$listed" ]; then
    managed=yes listed_port=${listed%% *} pgdata=${listed#* } confdir=/etc/postgresql/$1/$2
  else
    managed=no listed_port="" pgdata=/var/lib/postgresql/$1/$2 confdir=$pgdata
  fi
}
# After find_cluster <version> <name>, with the port as $3: "<version>/<name> postgresql-common|self-contained
# port <port> <data directory>", or "missing: " and what is there instead.
cluster_found() {
  if [ "$managed" = yes ]; then
    if [ "$listed_port" = "$3" ]; then echo "$1/$2 postgresql-common port $3 $pgdata"
    else echo "missing: pg_lsclusters lists $1/$2 on port $listed_port, not $3"; fi
  elif [ -f "$pgdata/PG_VERSION" ] && [ -f "$pgdata/postgresql.conf" ]; then echo "$1/$2 self-contained port $3 $pgdata"
  else
    echo "missing: no cluster $1/$2 (pg_lsclusters lists: $(pg_lsclusters -h 2>/dev/null | awk '{ printf "%s%s/%s on port %s", s, $1, $2, $3; s = ", " }'))"
  fi
}
