# Sourced by host.sh and machine.sh: what both kinds of host share.
# shellcheck disable=SC2034
SB=${SOUNZ_SANDBOX_DIR:-/var/lib/sounz-sandbox}
# The pair's addresses in this sandbox (SCRIPT_ENV of sandbox/layout.ts; sandbox 0's by default).
SLAYER=${SOUNZ_SANDBOX_SLAYER:-198.51.100.11}
MEGADETH=${SOUNZ_SANDBOX_MEGADETH:-198.51.100.12}
# A host's persistent folders (under $SB/hosts/<name>) and the runbook's paths they are bound to on it.
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
