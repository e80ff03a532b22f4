# Sourced by host.sh and machine.sh: a host's persistent folders (under $SB/hosts/<name>) and the
# runbook's paths they are bound to on the host, the same on both kinds of host.
# shellcheck disable=SC2034
BINDS=(
  "etc-sounz:/etc/sounz"
  "etc-apollo:/etc/apollo"
  "data-sounz:/data/sounz"
  "usr-share-sounz:/usr/share/sounz"
  "log-sounz:/var/log/sounz"
  "log-apollo:/var/log/apollo"
  "cron.d:/etc/cron.d"
  "lib-apollo:/var/lib/apollo"
  "backups-sounz:/var/backups/sounz"
)
