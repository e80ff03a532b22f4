#!/usr/bin/env bash
# `npm run bench`: set-up on a fresh machine, then the benchmarks on the sandbox (bench/run.ts).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=setup.sh
source "$repo/scripts/setup.sh"
source "$repo/scripts/build.sh"
cd "$repo"
exec npx ts-node --transpile-only bench/run.ts "$@"
