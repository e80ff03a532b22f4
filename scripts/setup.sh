#!/usr/bin/env bash
# Everything a fresh machine needs before the program, the demo or the tests run; source it.
# npm packages (only when the lock file changed), then the pinned Pulumi engine.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
stamp="$repo/node_modules/.sounz-lock-sha256"
want=$(sha256sum "$repo/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  (cd "$repo" && npm ci --no-audit --no-fund)
  echo "$want" >"$stamp"
fi
# shellcheck source=toolchain.sh
source "$repo/scripts/toolchain.sh"
