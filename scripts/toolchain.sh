#!/usr/bin/env bash
# Makes the pinned Pulumi engine available: source it to get PATH and the engine's environment,
# or run it to build/check and print what it found.
#   preference: already on PATH at the pin -> cached build (~/.cache/sounz-standby) -> go build.
# The engine never downloads anything: no update check, no plugin acquisition.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../toolchain/pins.env
source "$repo/toolchain/pins.env"
cache=${SOUNZ_CACHE:-$HOME/.cache/sounz-standby}

fail() { echo "toolchain: $*" >&2; exit 1; }

# The CLI and the program's SDK must agree, or the engine and @pulumi/pulumi speak different protocols.
# (sed, not node: this runs before every operator command, and a node start is a tenth of a second)
npm_pin=$(sed -n 's/.*"@pulumi\/pulumi" *: *"\([^"]*\)".*/\1/p' "$repo/package.json" | head -n 1)
[ "$npm_pin" = "$PULUMI_VERSION" ] ||
  fail "pin PULUMI_VERSION=$PULUMI_VERSION (toolchain/pins.env) differs from @pulumi/pulumi $npm_pin in package.json"

# Builds are keyed by the pin and by our own Go sources (language host, provider launcher), so an
# edit rebuilds.
key=$(find "$repo/toolchain/pins.env" "$repo/toolchain/cli" -type f \( -name '*.go' -o -name 'go.*' -o -name pins.env \) |
  LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)
bin="$cache/toolchain/v$PULUMI_VERSION-$key/bin"

on_path_at_pin() {
  local b
  # Our own build of this pin and sources already first on PATH (an earlier source of this script):
  # nothing to ask it, which would cost a third of a second of every operator command.
  [ "$(command -v pulumi)" = "$bin/pulumi" ] && built && return 0
  for b in pulumi-language-nodejs pulumi-resource-pulumi-nodejs; do
    command -v $b >/dev/null && [ "$($b -version 2>/dev/null)" = "v$PULUMI_VERSION" ] || return 1
  done
  command -v pulumi >/dev/null && [ "$(pulumi version 2>/dev/null)" = "v$PULUMI_VERSION" ]
}

build() {
  echo "toolchain: building Pulumi v$PULUMI_VERSION from the Go module proxy into $bin" >&2
  local src="$cache/toolchain/src-$key"
  rm -rf "$src" && mkdir -p "$src" && cp -r "$repo/toolchain/cli/." "$src/"
  local modules="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
  local m
  for m in $modules; do
    (cd "$src" && GOFLAGS=-mod=mod go list -m "$m" >/dev/null 2>"$src/pin-error.log") ||
      fail "pin PULUMI_VERSION=$PULUMI_VERSION (toolchain/pins.env): the Go module proxy has no $m
$(tail -n 3 "$src/pin-error.log")"
  done
  (cd "$src" && GOFLAGS=-mod=mod go mod edit $(printf -- '-require=%s ' $modules) &&
    GOFLAGS=-mod=mod go mod tidy) || fail "could not resolve the modules for v$PULUMI_VERSION"
  local ldflags="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
  mkdir -p "$bin.tmp"
  (cd "$src" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$bin.tmp/pulumi" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi &&
    GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$bin.tmp/" \
      ./cmd/pulumi-language-nodejs ./cmd/pulumi-resource-pulumi-nodejs) ||
    fail "go build of Pulumi v$PULUMI_VERSION failed (see above)"
  rm -rf "$bin" && mv "$bin.tmp" "$bin" && rm -rf "$src"
}

built() { [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-language-nodejs" ] && [ -x "$bin/pulumi-resource-pulumi-nodejs" ]; }
if ! on_path_at_pin; then
  if ! built; then
    # Two set-ups on one machine (a test run and a demo) share the cache: one builds, the other waits for it.
    mkdir -p "$cache/toolchain"
    exec 8>"$cache/toolchain/.build.lock"
    flock 8
    built || build
    exec 8>&-
  fi
  export PATH="$bin:$PATH"
fi
# The dynamic-provider plugin (bundled with the CLI upstream) is our launcher of @pulumi/pulumi's
# dynamic-provider server, built beside the CLI, where the engine looks for it.
[ -d "$repo/node_modules/@pulumi/pulumi" ] || fail "node_modules/@pulumi/pulumi is missing: run npm ci first"

export PULUMI_HOME=${PULUMI_HOME:-$cache/pulumi-home}
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
# The program is type-checked once by `npm test` (tsc --noEmit); the engine only transpiles it.
export PULUMI_NODEJS_TRANSPILE_ONLY=true

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "pulumi $(pulumi version) at $(command -v pulumi)"
  echo "language host pulumi-language-nodejs $(pulumi-language-nodejs -version) at $(command -v pulumi-language-nodejs)"
  echo "dynamic-provider plugin at $(command -v pulumi-resource-pulumi-nodejs)"
fi
