#!/usr/bin/env bash
# The README's main command: set-up on a fresh machine, then the runbook's story on the sandbox.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=setup.sh
source "$repo/scripts/setup.sh"
source "$repo/scripts/build.sh"
cd "$repo"
exec npx ts-node --transpile-only ops/demo.ts
