#!/usr/bin/env bash
# `npm run switch -- ...`: the operator command (ops/switch.ts) with the pinned engine on PATH.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=toolchain.sh
source "$repo/scripts/toolchain.sh"
cd "$repo"
exec npx ts-node --transpile-only ops/switch.ts "$@"
