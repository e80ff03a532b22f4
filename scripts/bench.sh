#!/usr/bin/env bash
# `npm run bench` / `npm run faults`: set-up on a fresh machine, then bench/run.ts or bench/faults.ts on the sandbox.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=setup.sh
source "$repo/scripts/setup.sh"
source "$repo/scripts/build.sh"
cd "$repo"
exec npx ts-node --transpile-only "$@"
