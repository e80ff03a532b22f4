#!/usr/bin/env bash
# The operator commands (`npm run switch`, `replicate-now`, `up`, `preview`, `status`, `history`): ops/<name>.ts,
# as built into bin/ (scripts/build.sh), with the pinned engine on PATH, against the stack of the environment's backend.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=toolchain.sh
source "$repo/scripts/toolchain.sh"
cd "$repo"
command=$1
shift

# The CLI's reads a command starts with run from its first instant, beside node's start (ops/engine.ts
# takes them as its own runs of the same arguments): the config, and for a switch the output its audit
# message names. Each read's result comes on a file descriptor: "<exit code> <stdout bytes>", stdout, stderr.
stack=${PULUMI_STACK:-primary}
args=("$@")
for i in "${!args[@]}"; do
  case ${args[$i]} in
    --stack) stack=${args[$((i + 1))]:-$stack} ;;
    --stack=*) stack=${args[$i]#--stack=} ;;
  esac
done
read_early() {
  local err out code=0 LC_ALL=C
  err=$(mktemp)
  # shellcheck disable=SC2086 # the read's arguments are words
  out=$(pulumi $1 --stack "$stack" --non-interactive 2>"$err") || code=$?
  printf '%s %s\n%s%s' "$code" "${#out}" "$out" "$(cat "$err")"
  rm -f "$err"
}
# A switch's or an up's first progress line comes from here, at once: node takes its time to start on a
# busy machine. The elapsed times the command shows count from this instant (SOUNZ_STARTED_MS).
SOUNZ_STARTED_MS=$(date +%s%3N)
export SOUNZ_STARTED_MS
shows=yes json=no
for arg in "$@"; do
  case $arg in
    --preview) shows=no ;;
    --json) json=yes ;;
  esac
done
case $command:$shows:$json in
  switch:yes:yes | up:yes:yes) printf '{"t":0,"message":"%s: reading the config of stack %s","stack":"%s"}\n' "$command" "$stack" "$stack" ;;
  switch:yes:no | up:yes:no) printf '[  0.0 s] %s: reading the config of stack %s\n' "$command" "$stack" ;;
esac
reads=()
case $command in
  switch | up) reads=("config --json --show-secrets") ;;
esac
fd=3
early=()
for read in "${reads[@]}"; do
  eval "exec $fd< <(read_early \"\$read\")"
  early+=("$fd:$read")
  fd=$((fd + 1))
done
export SOUNZ_EARLY_STACK=$stack
SOUNZ_EARLY_READS=$(IFS=';'; echo "${early[*]}")
export SOUNZ_EARLY_READS

# shellcheck source=build.sh
source "$repo/scripts/build.sh"
# The preload defers two of @pulumi/pulumi's heaviest requires (components/lazyModules.ts).
exec node --require "$repo/bin/components/lazyModules.js" "bin/ops/$command.js" "$@"
