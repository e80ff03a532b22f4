#!/bin/bash
# The Debian 12 root filesystem of the sandbox's systemd hosts (issue 26), built once by debootstrap and
# cached outside the repo like the engine: ~/.cache/sounz-standby/rootfs-<hash of this script and the
# files it installs>. Prints the rootfs path on stdout. Hosts boot copies (overlays) of it; it is never booted itself.
#   bash scripts/rootfs.sh          build if missing, print the path
# Packages: the distribution's own (systemd, openssh-server, postgresql-15 with the cluster pg_createcluster
# makes, rsync, cron, iputils-arping, iproute2, keepalived, nodejs for the stand-ins, procps), debs cached in
# ~/.cache/sounz-standby/debs so that a rebuild needs no download.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SOUNZ_CACHE:-$HOME/.cache/sounz-standby}
UNITS=$HERE/sandbox/debian
INPUTS=("${BASH_SOURCE[0]}" "$HERE/sandbox/standin.js" "$UNITS"/*)
KEY=$(cat "${INPUTS[@]}" | sha256sum | cut -c1-12)
ROOTFS=$CACHE/rootfs-$KEY
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,postgresql-15,postgresql-client-15,rsync,cron,iputils-arping,iproute2,keepalived,nodejs,procps,psmisc,faketime,ca-certificates

if [ -f "$ROOTFS/.sounz-rootfs-complete" ]; then echo "$ROOTFS"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "rootfs.sh: must run as root (debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "rootfs.sh: debootstrap is not installed (apt-get install debootstrap systemd-container)" >&2; exit 1; }
mkdir -p "$CACHE/debs"
exec 9>"$CACHE/rootfs.lock"
flock 9
if [ -f "$ROOTFS/.sounz-rootfs-complete" ]; then echo "$ROOTFS"; exit 0; fi

# Debian's mirror as this machine's apt uses it (deb822 or one-line sources), else deb.debian.org
MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{u=$2} /^Suites:/ && / bookworm( |$)/ {print u; exit}')
[ -n "$MIRROR" ] || MIRROR=$(grep -hE '^deb .* bookworm main' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2; exit}')
MIRROR=${MIRROR:-http://deb.debian.org/debian}

BUILD=$ROOTFS.building
rm -rf "$BUILD"
start=$(date +%s)
echo "rootfs.sh: debootstrap bookworm from $MIRROR into $BUILD (log $ROOTFS.log)" >&2
debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$PACKAGES" bookworm "$BUILD" "$MIRROR" >"$ROOTFS.log" 2>&1 \
  || { tail -20 "$ROOTFS.log" >&2; exit 1; }

in_root() { chroot "$BUILD" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# the cluster pg_createcluster makes (postgresql-common's postinst makes it unless the install could not)
in_root pg_lsclusters -h | grep -q '^15 main ' || in_root pg_createcluster 15 main >>"$ROOTFS.log" 2>&1
# hosts get their own keys and identity at first boot
rm -f "$BUILD"/etc/ssh/ssh_host_*
: > "$BUILD/etc/machine-id"
# a container has no consoles to log in on, no hardware clock, no udev
in_root systemctl mask getty@tty1.service console-getty.service systemd-udevd.service systemd-hwdb-update.service \
  systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >>"$ROOTFS.log" 2>&1 || true
# stand-ins for the website, Apollo and the mongrels, as systemd units (ports from /etc/sounz/sounz.conf)
install -D -m 755 "$HERE/sandbox/standin.js" "$BUILD/usr/local/lib/sounz-sandbox/standin.js"
for u in "$UNITS"/*.service "$UNITS"/*.sh; do
  case "$u" in
    *.service) install -m 644 "$u" "$BUILD/etc/systemd/system/" ;;
    *.sh) install -m 755 "$u" "$BUILD/usr/local/lib/sounz-sandbox/" ;;
  esac
done
for u in "$UNITS"/*.service; do
  b=$(basename "$u"); case "$b" in *@.service) continue;; esac
  in_root systemctl enable "$b" >>"$ROOTFS.log" 2>&1
done
in_root apt-get clean
touch "$BUILD/.sounz-rootfs-complete"
mv "$BUILD" "$ROOTFS"
echo "rootfs.sh: built in $(( $(date +%s) - start )) s" >&2
echo "$ROOTFS"
