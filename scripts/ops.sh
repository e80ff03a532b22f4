#!/usr/bin/env bash
# The operator commands (`npm run switch`, `replicate-now`, `status`, `history`): ops/<name>.ts with the pinned
# engine on PATH, against the stack of the environment's backend.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=toolchain.sh
source "$repo/scripts/toolchain.sh"
cd "$repo"
command=$1
shift
exec "$repo/node_modules/.bin/ts-node" --transpile-only "ops/$command.ts" "$@"
