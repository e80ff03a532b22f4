#!/usr/bin/env bash
# Compiles the program and the operator commands into bin/ (tsconfig.build.json, no type-check: npm
# test does that) when a source is newer than the last build. The engine (Pulumi.yaml's main) and
# scripts/ops.sh run bin/, not ts-node, which cost a second or more of every run. Source it or run it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
stamp="$repo/bin/.built"
# What tsc compiles (tsconfig.build.json's include, on one line: `"model/**/*.ts"` is model), its
# settings, and the packages it compiles against (the providers' code is serialized from them), and
# the host scripts, which the providers' code kept in bin/ carries word for word (providers/contract.ts).
read -r -a compiled <<<"$(sed -n 's/.*"include": *\[\(.*\)\].*/\1/p' "$repo/tsconfig.build.json" | tr -d '",' | sed 's|/\*\*/\*\.ts||g')"
[ "${#compiled[@]}" -gt 0 ] || { echo "build: no include list on one line in tsconfig.build.json" >&2; exit 1; }
sources=("${compiled[@]}" tsconfig.json tsconfig.build.json package-lock.json)
newer() { (cd "$repo" && find "${sources[@]}" -newer "$stamp" \( -name '*.ts' -o -name '*.json' -o -path 'providers/scripts/*' \) -type f -print -quit); }
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
