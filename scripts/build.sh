#!/usr/bin/env bash
# Compiles the program and the operator commands into bin/ (tsconfig.build.json, no type-check: npm
# test does that) when a source is newer than the last build. The engine (Pulumi.yaml's main) and
# scripts/ops.sh run bin/, not ts-node, which cost a second or more of every run. Source it or run it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
stamp="$repo/bin/.built"
sources=(index.ts model components providers ops tsconfig.json tsconfig.build.json package-lock.json)
newer() { (cd "$repo" && find "${sources[@]}" -newer "$stamp" \( -name '*.ts' -o -name '*.json' \) -print -quit); }
if [ ! -e "$stamp" ] || [ -n "$(newer)" ]; then
  # Two builds at once (a test run and a demo) must not delete each other's output.
  exec 9>"$repo/.build.lock"
  flock 9
  if [ ! -e "$stamp" ] || [ -n "$(newer)" ]; then
    # Stamped as of the build's start: a source saved while tsc runs is built again next time.
    rm -rf "$repo/bin" && mkdir -p "$repo/bin" && touch "$repo/bin/.building"
    (cd "$repo" && node_modules/.bin/tsc -p tsconfig.build.json) || { echo "build: tsc failed (above)" >&2; exit 1; }
    mv "$repo/bin/.building" "$stamp"
  fi
  exec 9>&-
fi
