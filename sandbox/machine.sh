#!/bin/bash
# The sandbox's systemd hosts (SOUNZ_SANDBOX_HOSTS=debian): a Debian 12 container per host, booted by
# systemd-nspawn from an overlay of the cached rootfs (scripts/rootfs.sh) into the host's network namespace.
# Driven by sandbox/hosts.ts and provision.ts; copied to $SB/bin/machine.sh at `up`.
#   machine.sh prepare <name> <addr> <rootfs>   (root namespace) mount the host's root, write its identity into it
#   machine.sh power <name> <addr>              (root namespace, detached) the host's power: boots it, boots it
#                                               again after a `systemctl reboot` (nspawn exits 133), ends at power-off
#   machine.sh release <name>                   (root namespace) unmount the host's root (after its processes ended)
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cmd=$1; name=$2
H=$SB/hosts/$name
ROOT=$H/root
# The host's network namespace (SCRIPT_ENV of sandbox/layout.ts: sandbox 1's are sounz1-<name>).
NETNS=${SOUNZ_SANDBOX_NETNS_PREFIX:-sounz-}$name
# The binds (common.sh) are a host's persistent dirs; the rest of the host, PostgreSQL's cluster included, lives in its root's upper layer.

case "$cmd" in
prepare)
  addr=$3; rootfs=$4
  mkdir -p "$H/root-upper" "$H/root-work" "$ROOT"
  mountpoint -q "$ROOT" || mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$H/root-upper,workdir=$H/root-work" "$ROOT"
  echo "$name" > "$ROOT/etc/hostname"
  { grep -vwE 'slayer|megadeth' /etc/hosts 2>/dev/null || true
    echo "$SLAYER slayer"; echo "$MEGADETH megadeth"; } > "$ROOT/etc/hosts"
  # sshd: the pinned host key the sandbox made, root by the operator's key only
  install -m 600 "$H/ssh/ssh_host_ed25519_key" "$ROOT/etc/ssh/ssh_host_ed25519_key"
  install -m 644 "$H/ssh/ssh_host_ed25519_key.pub" "$ROOT/etc/ssh/ssh_host_ed25519_key.pub"
  cat > "$ROOT/etc/ssh/sshd_config.d/sounz-sandbox.conf" <<EOC
# sandbox host $name (machine.sh)
ListenAddress $addr:22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOC
  install -d -m 700 "$ROOT/root/.ssh"
  install -m 600 "$SB/keys/authorized_keys" "$ROOT/root/.ssh/authorized_keys"
  # PostgreSQL 15/main as pg_createcluster made it, listening on the base address; trust as the namespace hosts
  PGCONF=$ROOT/etc/postgresql/15/main
  cat > "$PGCONF/conf.d/sounz-sandbox.conf" <<EOC
listen_addresses = '$addr,127.0.0.1'
EOC
  if ! grep -q '^# sounz sandbox' "$PGCONF/pg_hba.conf"; then
    sed -i -E 's/(peer|scram-sha-256|md5)$/trust/' "$PGCONF/pg_hba.conf"
    printf '# sounz sandbox\nhost all all %s/32 trust\n' "$addr" >> "$PGCONF/pg_hba.conf"
  fi
  for b in "${BINDS[@]}"; do mkdir -p "$ROOT${b#*:}"; done
  ;;

power)
  addr=$3
  args=(--quiet --register=no --keep-unit --boot --directory="$ROOT" --machine="$NETNS" --hostname="$name"
        --network-namespace-path="/run/netns/$NETNS" --capability=CAP_NET_ADMIN,CAP_NET_RAW
        --resolv-conf=off --timezone=off --link-journal=no --console=passive)
  for b in "${BINDS[@]}"; do args+=(--bind="$H/${b%%:*}:${b#*:}"); done
  while :; do
    # a boot finds the network as the machine's own configuration leaves it: the base address only
    ip -n "$NETNS" addr flush dev eth0
    ip -n "$NETNS" addr add "$addr/24" dev eth0
    rc=0; systemd-nspawn "${args[@]}" </dev/null >>"$H/console.log" 2>&1 || rc=$?
    echo "$(date -u +%FT%TZ) nspawn exited $rc" >>"$H/console.log"
    [ "$rc" = 133 ] || break   # 133: the host rebooted
  done
  ;;

release)
  if mountpoint -q "$ROOT"; then umount "$ROOT"; fi
  ;;
*)
  echo "usage: machine.sh prepare|power|release <name> ..." >&2; exit 2;;
esac
