# $1 peer address; the password on stdin. The .pgpass (0600, postgres) the standby logs in with, and
# the pg_hba entry that lets in the replication role from the peer's address only, first in the file.
peer=$1
read -r password
pgpass=$home/.pgpass
tmp=$(mktemp "$pgpass.XXXXXX"); chmod 0600 "$tmp"
printf '%s:*:*:%s:%s\n' "$peer" "$role" "$password" >"$tmp"
chown postgres:postgres "$tmp"; mv -f "$tmp" "$pgpass"
hba=$confdir/pg_hba.conf
if running; then hba=$(q 'SHOW hba_file'); fi
# pg_hba takes an address with a mask, or a host name without one: a name is resolved here, on the host
# (getent, as PostgreSQL resolves), else written in the host-name form.
case $peer in
  *[!0-9.]*) address=$(getent ahostsv4 "$peer" | awk 'NR == 1 { print $1 }'); address=${address:+$address/32}; address=${address:-$peer} ;;
  *) address=$peer/32 ;;
esac
want="host replication $role $address scram-sha-256 # sounz-standby: the peer only"
if ! grep -qxF "$want" "$hba"; then
  before=$(mktemp "$hba.before.XXXXXX"); cp -p "$hba" "$before"
  tmp=$(mktemp "$hba.XXXXXX")
  { echo "$want"; grep -v '# sounz-standby: the peer only$' "$hba" || true; } >"$tmp"
  chown postgres:postgres "$tmp"; chmod 0600 "$tmp"; mv -f "$tmp" "$hba"
  if running; then
    # PostgreSQL's own reading of the new file, before a reload: a line it refuses never stays behind to stop a later start.
    refused=$(q "SELECT string_agg(line_number || ': ' || error, '; ') FROM pg_hba_file_rules WHERE error IS NOT NULL")
    if [ -n "$refused" ]; then
      mv -f "$before" "$hba"
      echo "PostgreSQL refuses the pg_hba.conf line for $peer ($refused): $hba is back as it was" >&2; exit 1
    fi
    q 'SELECT pg_reload_conf()' >/dev/null
  fi
  rm -f "$before"
  note "pg_hba: the replication role from $peer ($address) only"
fi
