#!/usr/bin/env bash
# `npm test`: set-up on a fresh machine, then every test (unit, engine, sandbox, integration).
# With arguments, jest runs just those (in band); without, the suites that need no sandbox host run
# beside the suites that share the sandbox hosts, which run one at a time. Each suite's
# time is printed at the end (and kept in test-times.txt).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=setup.sh
source "$repo/scripts/setup.sh"
bash "$repo/scripts/toolchain.sh"
bash "$repo/scripts/build.sh"
cd "$repo"
# Types are checked once here; ts-jest only transpiles.
npx tsc --noEmit -p .
if [ $# -gt 0 ]; then exec npx jest --runInBand "$@"; fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
# The suites that need no sandbox host (pure; the engine, the toolchain and the processes on this
# machine alone) run in one band beside the suites that use sandbox hosts, which run in two bands, one
# per sandbox (SOUNZ_SANDBOX_SLOT 0 and 1). The second band boots its hosts as Debian 12 systems with
# systemd (the default kind; the rootfs is built and cached on first use) and takes the suites below,
# which name no sandbox address of their own; the first runs the rest on the fast namespace hosts.
# Each band runs its suites one at a time.
apart=(/test/unit/ '/test/integration/(build|engine|interrupted|languageHost|lazyModules|toolchain|warmProvider)\.test\.ts$')
second='/test/integration/(guard|failures|continuous|reboot|rebootMidSwitch|switching)\.test\.ts$'
# One apt-get at a time: the packages the sandboxes need, before both come up.
npm run --silent sandbox -- packages
npx jest --runInBand --json --outputFile="$results/unit.json" "${apart[@]}" >"$results/unit.log" 2>&1 &
unit=$!
{ bash scripts/rootfs.sh >/dev/null && SOUNZ_SANDBOX_HOSTS=debian SOUNZ_SANDBOX_SLOT=1 \
  npx jest --runInBand --json --outputFile="$results/second.json" "$second"; } >"$results/second.log" 2>&1 &
other=$!
status=0
SOUNZ_SANDBOX_HOSTS=namespace SOUNZ_SANDBOX_SLOT=0 npx jest --runInBand --json --outputFile="$results/hosts.json" --testPathIgnorePatterns "${apart[@]}" "$second" || status=$?
wait "$other" || status=$?
wait "$unit" || status=$?
cat "$results/second.log"
cat "$results/unit.log"
node -e '
  const rows = process.argv.slice(1).flatMap((file) => {
    try { return JSON.parse(require("fs").readFileSync(file, "utf8")).testResults; } catch { return []; }
  }).map((r) => [((r.endTime - r.startTime) / 1000).toFixed(1).padStart(7), r.status === "passed" ? "passed" : "FAILED",
    r.assertionResults.length, require("path").relative(process.cwd(), r.name)]);
  rows.sort((a, b) => b[0] - a[0]);
  console.log("\nseconds  result  tests  suite\n" + rows.map((r) => `${r[0]}  ${r[1]}  ${String(r[2]).padStart(5)}  ${r[3]}`).join("\n"));
' "$results/unit.json" "$results/hosts.json" "$results/second.json" | tee test-times.txt
# Each failure's message once more at the very end, where a log cut in its middle still shows it.
node -e '
  for (const file of process.argv.slice(1)) {
    let results = [];
    try { results = JSON.parse(require("fs").readFileSync(file, "utf8")).testResults; } catch { continue; }
    for (const r of results) {
      if (r.status === "passed") continue;
      const failed = r.assertionResults.filter((a) => a.status === "failed");
      const messages = failed.length ? failed.map((a) => `${a.fullName}\n${a.failureMessages.join("\n")}`) : [r.message];
      for (const m of messages) console.log(`\nFAILED in ${require("path").relative(process.cwd(), r.name)}: ${m.split("\n").slice(0, 60).join("\n")}`);
    }
  }
' "$results/unit.json" "$results/hosts.json" "$results/second.json"

exit "$status"
