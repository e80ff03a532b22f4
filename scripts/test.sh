#!/usr/bin/env bash
# `npm test`: set-up on a fresh machine, then every test (unit, engine, sandbox, integration).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=setup.sh
source "$repo/scripts/setup.sh"
bash "$repo/scripts/toolchain.sh"
bash "$repo/scripts/build.sh"
cd "$repo"
# Types are checked once here; ts-jest only transpiles.
npx tsc --noEmit -p .
# Suites that share the sandbox hosts must not run at once.
exec npx jest --runInBand "$@"
