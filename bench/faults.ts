// The step-boundary faults through the real engine on the sandbox (issue 24): a seeded sample of the
// cases the simulator enumerates (test/unit/stepFaults.test.ts) whose fault the sandbox can make at its
// step: the claim's command fails (arping broken on the new server), the grab's restore fails (the
// receiver's PostgreSQL stopped), the checks fail (a mongrel stopped). Each case: NORMAL deployed, the
// fault, the switch; the same invariants as the simulator, read on the hosts (one holder, seen from the
// vantage point; the old server in its whole old role when the switch says it took the address back
// or kept it); then the repair and the re-run, which must converge. Writes bench/results/faults-<time>.json.
//   SOUNZ_FAULTS_SEED=<n> SOUNZ_FAULTS_CASES=<n> (default all) ts-node bench/faults.ts   (under sandbox-turn)
import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import * as sandbox from '../sandbox';
import { NORMAL, Pair, RECOVERY } from '../model/pairs';
import { sandboxStack } from '../ops/sandboxStack';
import { GUARD_CRON_FILE, GUARD_UNIT } from '../providers/serviceGuard';

type HostName = 'slayer' | 'megadeth';
const sh = async (host: HostName, text: string) => (await sandbox.execOn(host, ['sh', '-c', text])).stdout.trim();

interface Fault { step: string; make: (host: HostName) => Promise<unknown>; mend: (host: HostName) => Promise<unknown> }
const FAULTS: Fault[] = [
  { step: 'claim', make: (host) => sh(host, 'printf "#!/bin/sh\\nexit 2\\n" >/run/arping-broken && chmod +x /run/arping-broken && mount --bind /run/arping-broken "$(command -v arping)"'),
    mend: (host) => sh(host, 'umount "$(command -v arping)"') },
  // PostgreSQL stopped the way its host runs it; the sandbox starts it again as it started it.
  { step: 'data-grab', make: (host) => sandbox.stopService(host, 'postgresql'),
    mend: () => sandbox.up() },
  // The sandbox starts again what it runs and finds stopped.
  { step: 'checks', make: (host) => sandbox.stopService(host, 'mongrel 8001'), mend: () => sandbox.up() },
];
/** From NORMAL: the planned switchover (megadeth serves) and back to NORMAL from there (slayer serves). */
const SWITCHES: { name: string; from: Pair; to: Pair; server: HostName; old: HostName; oldStatus: string }[] = [
  { name: 'planned switchover', from: NORMAL, to: RECOVERY, server: 'megadeth', old: 'slayer', oldStatus: 'production' },
  { name: 'back to NORMAL', from: RECOVERY, to: NORMAL, server: 'slayer', old: 'megadeth', oldStatus: 'standby_as_production' },
];

/** The engine's own error lines (each once), which say why an up failed; its first line says only that it did. */
function errorsOf(error: Error): string {
  const lines = error.message.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('error: '));
  return [...new Set(lines)].join(' | ') || error.message.split('\n')[0];
}

/** A small seeded shuffle (mulberry32), so that a sample can be run again. */
function shuffled<T>(items: T[], seed: number): T[] {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return items.map((item) => ({ item, key: random() })).sort((x, y) => x.key - y.key).map(({ item }) => item);
}

async function main() {
  const seed = Number(process.env.SOUNZ_FAULTS_SEED ?? Date.now() % 100_000);
  const cases = shuffled(SWITCHES.flatMap((s) => FAULTS.map((f) => ({ s, f }))), seed)
    .slice(0, Number(process.env.SOUNZ_FAULTS_CASES ?? Infinity));
  const started = Date.now();
  const results: { case: string; violations: string[]; seconds: number }[] = [];
  for (const { s, f } of cases) {
    const caseStarted = Date.now();
    const violations: string[] = [];
    const info = await sandbox.up(undefined, { fresh: true });
    const engine = await sandboxStack(info, 'faults');
    const servedBy = async () => (await sandbox.httpFromVantage(info.serviceIp))?.split(' ')[0] ?? null;
    try {
      await engine.up('NORMAL: first deployment');
      if (s.from !== NORMAL) {
        await engine.setStatuses(s.from);
        await engine.up(`to ${s.name}'s start`);
      }
      await f.make(s.server);
      await engine.setStatuses(s.to);
      const failed = await engine.up(`${s.name}, ${f.step} failing`).then(() => undefined, (e: Error) => e);
      await f.mend(s.server);
      if (!failed) violations.push(`the switch succeeded although its ${f.step} failed`);
      const holder = await servedBy();
      if (holder === null && !failed?.message.includes('NOBODY SERVES')) violations.push('nobody serves and the failure does not say so');
      if (f.step !== 'checks' && holder === s.old) {
        // Before the claim succeeds, the old server keeps its whole old role.
        const status = await sh(s.old, 'cat /etc/sounz/sounz.status');
        if (status !== s.oldStatus) violations.push(`${s.old} serves with status ${status}, not ${s.oldStatus}`);
        // Its unit enabled where systemd runs, its cron file elsewhere.
        if (await sh(s.old, `{ test -e ${GUARD_CRON_FILE} || systemctl is-enabled --quiet ${GUARD_UNIT} 2>/dev/null; } && echo guard || true`) !== 'guard') {
          violations.push(`${s.old} serves without its guard`);
        }
      }
      await engine.up(`${s.name}: run again`).catch((e: Error) => violations.push(`the re-run failed: ${errorsOf(e)}`));
      if (await servedBy() !== s.server) violations.push(`after the re-run ${await servedBy()} serves, not ${s.server}`);
    } finally {
      await engine.dispose({ destroy: false });
      await sandbox.down();
    }
    const seconds = (Date.now() - caseStarted) / 1000;
    results.push({ case: `${s.name}, ${f.step} fails`, violations, seconds });
    console.log(`${s.name}, ${f.step} fails: ${violations.length ? violations.join('; ') : 'every invariant holds'} (${seconds.toFixed(0)} s)`);
  }
  const seconds = (Date.now() - started) / 1000;
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `faults-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ seed, cases: results.length, seconds, results }, null, 2)}\n`);
  console.log(`${results.length} cases in ${seconds.toFixed(0)} s (seed ${seed}); ${file}`);
  if (results.some((r) => r.violations.length > 0)) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
