#!/usr/bin/env bash
# The operator commands (`npm run switch`, `replicate-now`, `up`, `preview`, `status`, `history`): ops/<name>.ts,
# as built into bin/ (scripts/build.sh), with the pinned engine on PATH, against the stack of the environment's backend.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=toolchain.sh
source "$repo/scripts/toolchain.sh"
# shellcheck source=build.sh
source "$repo/scripts/build.sh"
cd "$repo"
command=$1
shift
# The preload defers two of @pulumi/pulumi's heaviest requires (components/lazyModules.ts).
exec node --require "$repo/bin/components/lazyModules.js" "bin/ops/$command.js" "$@"
