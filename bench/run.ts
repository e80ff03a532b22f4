// `npm run bench`: how long the site is dark, on the sandbox, through the real engine, beside
// keepalived doing the same takeover of the same service IP between the same two hosts.
// Writes bench/results/<date>.json and prints a Markdown table for the README.
import { ChildProcess, execFile, spawn } from 'child_process';
import { randomBytes } from 'crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { dirname, join } from 'path';
import { promisify } from 'util';
import * as sandbox from '../sandbox';
import { Pair } from '../model/pairs';
import { Engine } from '../ops/engine';
import { sandboxStack } from '../ops/sandboxStack';
import { GUARD_COMMAND, GUARD_CRON_FILE } from '../providers/serviceGuard';
import { secondsWithTwoHolders, VantagePoller } from '../sandbox/vantagePoller';
import { longestGap, Writer, WRITER_TABLE, WRITER_TABLE_SQL } from '../test/support/writer';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const NORMAL: Pair = { primary: 'production', secondary: 'standby' };
const SWITCHOVER_DATA_MIB = 32;
/** Database sizes for the dark time of a planned switchover: it must not grow with the data. */
const DARK_DATABASES_MB = (process.env.BENCH_DARK_MB ?? '22,600').split(',').map(Number);
/**
 * Which parts run (all by default): switch (no-op, preview, EMERGENCY, switchover), refusal, dark,
 * continuous (sounz:replication.mode continuous: planned switchover's dark time and rows lost, EMERGENCY's rows lost),
 * partition (the guards after a partition heals), keepalived (its takeover, and its partition).
 */
const PARTS = new Set((process.env.BENCH_PARTS ?? 'switch,refusal,dark,continuous,partition,keepalived').split(','));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Asks the service IP over HTTP every 20 ms from the vantage point and keeps who answered, when. */
class Watch {
  private readonly child: ChildProcess;
  private readonly answers: { at: number; host: string }[] = [];

  constructor(ip: string) {
    const loop = `
      const http = require('http');
      const ask = () => {
        const req = http.get({ host: process.argv[1], port: 80, path: '/', timeout: 200, agent: false }, (res) => {
          let body = ''; res.on('data', (d) => (body += d));
          res.on('end', () => { console.log(Date.now() + ' ' + body.split(' ')[0]); setTimeout(ask, 20); });
        });
        req.on('timeout', () => req.destroy());
        req.on('error', () => setTimeout(ask, 20));
      };
      ask();`;
    this.child = spawn('ip', ['netns', 'exec', sandbox.VANTAGE.netns, process.execPath, '-e', loop, ip],
      { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const [at, host] = line.split(' ');
        this.answers.push({ at: Number(at), host });
      }
    });
  }

  /** Milliseconds from `since` to the first answer by `host`, waiting up to `limitMs`. */
  async firstAnswer(host: string, since: number, limitMs = 120_000): Promise<number> {
    for (;;) {
      const answer = this.answers.find((a) => a.at >= since && a.host === host);
      if (answer) return answer.at - since;
      if (Date.now() - since > limitMs) throw new Error(`${host} did not answer within ${limitMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The longest time without any answer between `since` and the first answer by `host` after it: the dark window. */
  async longestSilence(host: string, since: number): Promise<number> {
    const until = since + await this.firstAnswer(host, since);
    const times = [since, ...this.answers.filter((a) => a.at > since && a.at <= until).map((a) => a.at)];
    return Math.max(...times.slice(1).map((at, i) => at - times[i]));
  }

  stop(): void {
    process.kill(-this.child.pid!, 'SIGTERM');
  }
}

interface Series {
  runsMs: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
  phases?: Record<string, number>;
}

function series(runsMs: number[], phaseRuns: Record<string, number>[] = []): Series {
  const sorted = [...runsMs].sort((a, b) => a - b);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const phases = phaseRuns.length === 0 ? undefined
    : Object.fromEntries(Object.keys(phaseRuns[0]).map((phase) => [phase, median(phaseRuns.map((p) => p[phase]))]));
  return { runsMs, medianMs: median(runsMs), minMs: sorted[0], maxMs: sorted[sorted.length - 1], phases };
}

async function timed<T>(work: () => Promise<T>): Promise<number> {
  const started = Date.now();
  await work();
  return Date.now() - started;
}

/** An operator command (scripts/ops.sh: `npm run <command>` without npm's own start) against the bench's stack. */
async function ops(engine: Engine, command: string, ...args: string[]): Promise<{ started: number; ended: number }> {
  const started = Date.now();
  await promisify(execFile)('bash', [join(__dirname, '..', 'scripts', 'ops.sh'), command, ...args, '--stack', engine.stack],
    { env: { ...engine.environment, ...traceEnv }, maxBuffer: 64 << 20 }).catch((error: { code?: number }) => {
    // A refused config is the refusal bench's expected end.
    if (!(command === 'up' && args.includes('--preview') && error.code === 1)) throw error;
  });
  return { started, ended: Date.now() };
}

/** SOUNZ_ENGINE_LOG for the one traced EMERGENCY (ops/engine.ts). */
let traceEnv: Record<string, string> = {};

/** The operator's switch, decided (`npm run switch -- ... --yes`). */
const operator = (engine: Engine, ...args: string[]) => ops(engine, 'switch', ...args, '--reason', 'bench', '--yes');

/** The operator's no-op `up` and `preview` (`npm run up`, `npm run preview`): the program in their own process. */
const operatorUp = (engine: Engine) => ops(engine, 'up', '--reason', 'bench: no-op');
const operatorPreview = (engine: Engine) => ops(engine, 'up', '--preview');
const duration = async (run: Promise<{ started: number; ended: number }>) => {
  const { started, ended } = await run;
  return ended - started;
};

async function converge(engine: Engine, pair: Pair, message: string): Promise<void> {
  await engine.setStatuses(pair);
  await engine.up(message);
}

async function benchProgram(info: sandbox.SandboxInfo, watch: Watch) {
  const engine = await sandboxStack(info, 'bench');
  try {
    await converge(engine, NORMAL, 'bench: NORMAL');
    return {
      ...(PARTS.has('switch') ? await benchSwitches(engine, watch) : {}),
      refusal: PARTS.has('refusal') ? await benchRefusal(engine) : undefined,
      darkSwitchover: PARTS.has('dark') ? await benchDark(engine, watch) : undefined,
      partition: PARTS.has('partition') ? await benchPartition(info, engine) : undefined,
    };
  } finally {
    await engine.dispose({ destroy: false });
  }
}

async function benchSwitches(engine: Engine, watch: Watch) {
  const noop = [];
  const preview = [];
  const cliNoop = [];
  const cliPreview = [];
  for (let i = 0; i < RUNS; i++) {
    noop.push(await duration(operatorUp(engine)));
    preview.push(await duration(operatorPreview(engine)));
    cliNoop.push(await timed(() => engine.up('bench: no-op')));
    cliPreview.push(await timed(() => engine.preview()));
  }

  const emergency = [];
  const emergencyPhases = [];
  for (let i = 0; i < RUNS; i++) {
    await sandbox.kill('slayer');
    const { started, ended } = await operator(engine, 'emergency', 'slayer');
    const answered = await watch.firstAnswer('megadeth', started);
    emergency.push(answered);
    emergencyPhases.push({ commandToAnswer: answered, commandTotal: ended - started });
    await sandbox.revive('slayer');
    await converge(engine, { primary: 'production_as_standby', secondary: 'standby_as_production' }, 'bench: RECOVERY');
    await converge(engine, NORMAL, 'bench: NORMAL');
  }

  const switchover = [];
  const switchoverPhases = [];
  for (let i = 0; i < RUNS; i++) {
    // New data every run, so that each final grab moves it: a file and a thousand rows.
    await sandbox.execOn('slayer', ['sh', '-c',
      `head -c ${SWITCHOVER_DATA_MIB}M /dev/urandom >/data/sounz/bench-${i}.bin && ` +
      `runuser -u postgres -- psql -qd sounz -c "create table if not exists bench (n int, t text); ` +
      `insert into bench select g, md5(g::text) from generate_series(1, 1000) g"`]);
    const { started, ended } = await operator(engine, 'switchover');
    const answered = await watch.firstAnswer('megadeth', started);
    switchover.push(answered);
    switchoverPhases.push({ commandToAnswer: answered, commandTotal: ended - started });
    await converge(engine, NORMAL, 'bench: NORMAL');
  }
  return {
    emergency: series(emergency, emergencyPhases),
    switchover: series(switchover, switchoverPhases),
    emergencyBreakdown: await tracedEmergency(engine, watch),
    noopUp: series(noop),
    preview: series(preview),
    cliNoopUp: series(cliNoop),
    cliPreview: series(cliPreview),
  };
}

/**
 * Where an EMERGENCY's time goes, from the engine's own log (-v=9) and the operator command's steps in
 * it (ops/engine.ts markEngineLog), one traced run: each phase ends at the first line that says so.
 */
export function breakdown(log: string, spawned: number, answered: number, serviceIpResource: string): Record<string, number> {
  const lines = log.split('\n').flatMap((line) => {
    const mark = /^I(\d\d)(\d\d) (\d\d:\d\d:\d\d\.\d{3})\d* \d+ sounz\] (.*)$/.exec(line);
    if (mark) return [{ at: Date.parse(`${new Date(spawned).getUTCFullYear()}-${mark[1]}-${mark[2]}T${mark[3]}Z`), text: mark[4] }];
    if (!line.startsWith('{')) return [];
    const entry = JSON.parse(line) as { time?: string; msg?: string };
    return entry.time && entry.msg ? [{ at: Date.parse(entry.time), text: entry.msg }] : [];
  }).sort((a, b) => a.at - b.at);
  const at = (what: string, pattern: RegExp) => {
    const line = lines.find((l) => pattern.test(l.text));
    if (!line) throw new Error(`the engine log has no line for ${what} (${pattern})`);
    return line.at;
  };
  const steps: [string, number][] = [
    ['the command\'s own start (bash, toolchain and build checks, node)', at('command started', /^command started$/)],
    ['the config read (in the command\'s process, ops/stackConfig.ts; the preflight starts at its end)', at('config read', /^config read$/)],
    ['the CLI\'s up starts while @pulumi/pulumi and the program load; the engine calls the program',
      at('program run', /^program run by the engine$/)],
    ['the program: its own last outputs, the plan, the pair registered', at('Pair', /RegisterResource received: t=sounz:index:Pair/)],
    ['the dynamic-provider plugin starts (node and @pulumi/pulumi)', at('plugin', /^Handshake: /)],
    ['the claim on the standby (SSH login, duplicate-address detection, the address added) to the first HTTP answer', answered],
  ];
  // Side by side with those steps, measured from the end of the config's read.
  const read = steps[1][1];
  const alongside = {
    'program loaded, after the config': at('program loaded', /^program loaded$/) - read,
    'engine called the program, after the config': at('Run', /^langhost\[client\]\.Run\(/) - read,
    'preflight answered in the command, after the config': at('preflight', /^preflight observed both hosts$/) - read,
    'the engine recorded the claim, after the first HTTP answer':
      at('claim', new RegExp(`step (update|create) on \\S*::${serviceIpResource} retired`)) - answered,
  };
  let previous = spawned;
  const phases = Object.fromEntries(steps.map(([name, time]) => {
    const took = time - previous;
    previous = time;
    return [name, took];
  }));
  return { ...phases, 'in all (traced)': answered - spawned, ...alongside };
}

/** One EMERGENCY more, traced: its breakdown (the log slows the engine, so its total is above the others'). */
async function tracedEmergency(engine: Engine, watch: Watch) {
  const log = join(mkdtempSync(join(tmpdir(), 'sounz-trace-')), 'engine.log');
  traceEnv = { SOUNZ_ENGINE_LOG: log };
  try {
    await sandbox.kill('slayer');
    const { started } = await operator(engine, 'emergency', 'slayer');
    const answered = started + await watch.firstAnswer('megadeth', started);
    return breakdown(readFileSync(log, 'utf8'), started, answered, 'megadeth-service-ip');
  } finally {
    traceEnv = {};
    rmSync(dirname(log), { recursive: true, force: true });
    await sandbox.revive('slayer');
    await converge(engine, { primary: 'production_as_standby', secondary: 'standby_as_production' }, 'bench: RECOVERY');
    await converge(engine, NORMAL, 'bench: NORMAL');
  }
}

/** A refused config: the (production, production) pair, previewed by the operator command and by the CLI. */
async function benchRefusal(engine: Engine): Promise<{ operator: Series; cli: Series }> {
  await engine.setStatuses({ primary: 'production', secondary: 'production' });
  const refusal = [];
  const cli = [];
  for (let i = 0; i < RUNS; i++) {
    refusal.push(await duration(operatorPreview(engine)));
    cli.push(await timed(() => engine.run(['preview'], { allowFailure: true })));
    console.log(`refusal, run ${i + 1}: ${refusal[i]} ms (CLI ${cli[i]} ms)`);
  }
  await engine.setStatuses(NORMAL);
  return { operator: series(refusal), cli: series(cli) };
}

async function benchDark(engine: Engine, watch: Watch): Promise<Record<string, Series>> {
  // The dark window of a planned switchover (the site answers read-only during the final grab) with a
  // small and a large database: the longest time the vantage point got no answer at all.
  const dark: Record<string, Series> = {};
  for (const mb of DARK_DATABASES_MB) {
    await sandbox.execOn('slayer', ['sh', '-c', 'runuser -u postgres -- psql -qd sounz -c ' +
      `"drop table if exists bulk; create table bulk as select g, repeat(md5(g::text), 3) t from generate_series(1, ${mb * 5700}) g"`]);
    const size = (await sandbox.execOn('slayer', ['sh', '-c',
      `runuser -u postgres -- psql -qtAX -d sounz -c "select pg_database_size('sounz')"`])).stdout.trim();
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      const started = Date.now();
      await operator(engine, 'switchover');
      runs.push(await watch.longestSilence('megadeth', started));
      console.log(`dark window, database of ${size} bytes, run ${i + 1}: ${runs[i]} ms (switch took ${Date.now() - started} ms)`);
      await converge(engine, NORMAL, 'bench: NORMAL');
    }
    dark[`${Math.round(Number(size) / 2 ** 20)} MiB`] = series(runs);
  }
  await sandbox.execOn('slayer', ['sh', '-c', 'runuser -u postgres -- psql -qd sounz -c "drop table if exists bulk"']);
  return dark;
}

/** Milliseconds from `since` until exactly one host holds the service IP (`ip addr` on both, every 100 ms). */
async function untilOneHolder(info: sandbox.SandboxInfo, since: number, limitMs = 60_000): Promise<number> {
  for (;;) {
    const held = await Promise.all(sandbox.hostnames.map((h) => holds(h, info.serviceIp)));
    if (held.filter(Boolean).length === 1) return Date.now() - since;
    if (Date.now() - since > limitMs) throw new Error(`two hosts or none held ${info.serviceIp} for ${limitMs / 1000} s`);
    await sleep(100);
  }
}

/**
 * The split brain of a partition and what ends it: slayer cut off while it holds the service IP, a
 * takeover by megadeth (`partitioned`), then the heal. Returns, per run, the time from the heal to one
 * holder and the time the vantage point saw two MACs (samples with two, each from the one before).
 */
async function partitionRuns(info: sandbox.SandboxInfo, takeOver: () => Promise<void>, restore: () => Promise<void>) {
  const toOneHolder = [];
  const twoMacs = [];
  for (let i = 0; i < RUNS; i++) {
    await sandbox.partition('slayer');
    await takeOver();
    const poller = new VantagePoller(info.serviceIp);
    await sleep(1500);
    const healed = Date.now();
    await sandbox.heal('slayer');
    toOneHolder.push(await untilOneHolder(info, healed));
    await sleep(3000);
    twoMacs.push(Math.round(secondsWithTwoHolders(await poller.stopTimed()) * 1000));
    console.log(`partition healed, run ${i + 1}: one holder after ${toOneHolder[i]} ms; two MACs answered for ${twoMacs[i]} ms`);
    await restore();
  }
  return { toOneHolder: series(toOneHolder), twoMacs: series(twoMacs) };
}

/** The program's guards: EMERGENCY while slayer is cut off, then no up at all until one holder is left. */
function benchPartition(info: sandbox.SandboxInfo, engine: Engine) {
  return partitionRuns(info,
    () => converge(engine, { primary: 'down', secondary: 'production_alone' }, 'bench: EMERGENCY, slayer cut off'),
    async () => {
      await converge(engine, { primary: 'production_as_standby', secondary: 'standby_as_production' }, 'bench: RECOVERY');
      await converge(engine, NORMAL, 'bench: NORMAL');
    });
}

const PGDATA = '/var/lib/postgresql/15/main';
const psqlOn = async (host: sandbox.HostName, query: string) => (await sandbox.execOn(host,
  ['runuser', '-u', 'postgres', '--', 'psql', '-qtAX', '-d', 'sounz', '-c', query])).stdout.trim();
const rowsOn = async (host: sandbox.HostName) =>
  new Set((await psqlOn(host, `SELECT n FROM ${WRITER_TABLE}`)).split('\n').filter(Boolean).map(Number));

/**
 * Continuous mode on a stack of its own: a planned switchover's dark window (HTTP at the vantage point)
 * and the database's (the writer's longest time between two commits) with each database size, the rows
 * lost (0 expected); then EMERGENCY with slayer killed mid-stream: the rows lost and the lag the outputs report.
 */
async function benchContinuous(info: sandbox.SandboxInfo, watch: Watch) {
  const address = (host: sandbox.HostName) => info.hosts[host].address;
  // The writer connects from the operator's machine (a bench fixture, not the program's).
  for (const host of sandbox.hostnames) {
    await sandbox.execOn(host, ['sh', '-c', `line='host sounz postgres ${sandbox.BRIDGE_ADDRESS}/32 trust'; ` +
      `grep -qxF "$line" ${PGDATA}/pg_hba.conf || echo "$line" >>${PGDATA}/pg_hba.conf; runuser -u postgres -- psql -qtAX -c 'SELECT pg_reload_conf()'`]);
  }
  const engine = await sandboxStack(info, 'bench-continuous');
  try {
    await engine.setConfig('sounz:replication.mode', 'continuous', { path: true });
    await engine.setConfig('sounz:replication.password', randomBytes(18).toString('base64'), { secret: true, path: true });
    await converge(engine, NORMAL, 'bench: NORMAL, continuous');
    await psqlOn('slayer', WRITER_TABLE_SQL);
    const caughtUp = async () => {
      const lsn = await psqlOn('slayer', 'SELECT pg_current_wal_lsn()');
      for (let i = 0; i < 600; i++) {
        if (await psqlOn('megadeth', `SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '${lsn}') >= 0`) === 't') return;
        await sleep(100);
      }
      throw new Error('megadeth did not catch up within 60 s');
    };
    const switchover: Record<string, { dark: Series; databaseDark: Series; rowsLost: number[] }> = {};
    for (const mb of DARK_DATABASES_MB) {
      await psqlOn('slayer', `drop table if exists bulk; create table bulk as select g, repeat(md5(g::text), 3) t from generate_series(1, ${mb * 5700}) g`);
      const size = await psqlOn('slayer', "select pg_database_size('sounz')");
      await caughtUp();
      const dark = [], databaseDark = [], rowsLost = [];
      for (let i = 0; i < RUNS; i++) {
        const writer = new Writer([address('slayer'), address('megadeth')]);
        writer.start();
        while (writer.acked.length < 25) await sleep(20);
        const started = Date.now();
        await operator(engine, 'switchover');
        dark.push(await watch.longestSilence('megadeth', started));
        while (!writer.acked.some((row) => row.at > Date.now() - 500)) await sleep(20);
        const acked = await writer.stop();
        const there = await rowsOn('megadeth');
        rowsLost.push(acked.filter((row) => !there.has(row.n)).length);
        databaseDark.push(longestGap(acked));
        console.log(`continuous switchover, database of ${size} bytes, run ${i + 1}: dark ${dark[i]} ms, ` +
          `no commit for ${databaseDark[i]} ms, ${acked.length} rows committed, ${rowsLost[i]} lost (switch took ${Date.now() - started} ms)`);
        await converge(engine, NORMAL, 'bench: NORMAL, continuous');
      }
      switchover[`${Math.round(Number(size) / 2 ** 20)} MiB`] = { dark: series(dark), databaseDark: series(databaseDark), rowsLost };
    }
    await psqlOn('slayer', 'drop table if exists bulk');
    const emergency: { rowsLost: number[]; committed: number[]; reportedLag: unknown[] } = { rowsLost: [], committed: [], reportedLag: [] };
    for (let i = 0; i < RUNS; i++) {
      const writer = new Writer([address('slayer')]);
      writer.start();
      while (writer.acked.length < 50) await sleep(20);
      await sandbox.kill('slayer');
      const acked = await writer.stop();
      await operator(engine, 'emergency', 'slayer');
      const there = await rowsOn('megadeth');
      const lost = acked.filter((row) => !there.has(row.n));
      const { lag } = (await engine.outputs()).replication as { lag: { lastReplayedTransaction: string } };
      emergency.rowsLost.push(lost.length);
      emergency.committed.push(acked.length);
      emergency.reportedLag.push({ ...lag, lastCommitOnSlayer: new Date(Math.max(...acked.map((row) => row.at))).toISOString() });
      console.log(`continuous EMERGENCY, run ${i + 1}: ${lost.length} of ${acked.length} rows lost; outputs: ${JSON.stringify(lag)}`);
      await sandbox.revive('slayer');
      await converge(engine, { primary: 'production_as_standby', secondary: 'standby_as_production' }, 'bench: RECOVERY, continuous');
      await converge(engine, NORMAL, 'bench: NORMAL, continuous');
    }
    // What the rebuilds kept aside, removed: each is a full data directory.
    await sandbox.execOn('slayer', ['sh', '-c', `rm -rf ${PGDATA}.kept-*`]);
    await sandbox.execOn('megadeth', ['sh', '-c', `rm -rf ${PGDATA}.kept-*`]);
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    return { switchover, emergency: { ...emergency, medianRowsLost: median(emergency.rowsLost) } };
  } finally {
    await engine.dispose({ destroy: false });
  }
}

function keepalivedConfig(self: sandbox.HostInfo, peer: sandbox.HostInfo, ip: string, master: boolean): string {
  // Unicast VRRP between the two base addresses: no packet leaves the sandbox's subnet.
  return `global_defs {
  router_id ${self.name}
}
vrrp_instance sounz {
  state ${master ? 'MASTER' : 'BACKUP'}
  interface eth0
  virtual_router_id 51
  priority ${master ? 150 : 100}
  advert_int 1
  unicast_src_ip ${self.address}
  unicast_peer {
    ${peer.address}
  }
  virtual_ipaddress {
    ${ip}/24 dev eth0 label eth0:1
  }
}
`;
}

const holds = async (host: sandbox.HostName, ip: string) =>
  (await sandbox.execOn(host, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(`inet ${ip}/`);

/** keepalived settled: slayer the master holding the address, megadeth the backup without it. */
async function settled(info: sandbox.SandboxInfo): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await holds('slayer', info.serviceIp) && !(await holds('megadeth', info.serviceIp))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('keepalived did not settle with slayer as the master');
}

async function startKeepalived(info: sandbox.SandboxInfo, host: 'slayer' | 'megadeth'): Promise<void> {
  const peer = host === 'slayer' ? 'megadeth' : 'slayer';
  await sandbox.execOn(host, ['sh', '-c', 'cat >/etc/sounz/keepalived.conf && keepalived -f /etc/sounz/keepalived.conf ' +
    '-p /run/keepalived.pid -r /run/keepalived-vrrp.pid </dev/null >/dev/null 2>&1'],
  { input: keepalivedConfig(info.hosts[host], info.hosts[peer], info.serviceIp, host === 'slayer') });
}

async function benchKeepalived(info: sandbox.SandboxInfo, watch: Watch) {
  const takeover = [];
  for (const host of sandbox.hostnames) await startKeepalived(info, host);
  try {
    for (let i = 0; i < RUNS; i++) {
      await settled(info);
      await watch.firstAnswer('slayer', Date.now());
      const killed = Date.now();
      await sandbox.kill('slayer');
      takeover.push(await watch.firstAnswer('megadeth', killed));
      await sandbox.revive('slayer');
      await startKeepalived(info, 'slayer');
    }
    await settled(info);
    // Cut off, slayer stays master; megadeth takes over when slayer's adverts stop (3 x advert_int
    // and a skew); healed, megadeth hears the higher priority again and drops back to backup.
    const partition = PARTS.has('partition') ? await partitionRuns(info,
      async () => {
        const cut = Date.now();
        while (!(await holds('megadeth', info.serviceIp))) {
          if (Date.now() - cut > 30_000) throw new Error('keepalived on megadeth did not take over from the cut-off slayer');
          await sleep(100);
        }
      },
      () => settled(info)) : undefined;
    return { takeover: series(takeover), partition };
  } finally {
    for (const host of sandbox.hostnames) {
      await sandbox.execOn(host, ['sh', '-c', 'kill "$(cat /run/keepalived.pid)" 2>/dev/null; rm -f /etc/sounz/keepalived.conf'])
        .catch(() => undefined);
    }
  }
}

async function main(): Promise<void> {
  const wasUp = (await sandbox.status()).up;
  const info = await sandbox.up();
  const watch = new Watch(info.serviceIp);
  try {
    const program = await benchProgram(info, watch);
    const continuous = PARTS.has('continuous') ? await benchContinuous(info, watch) : undefined;
    // keepalived takes over the same service IP: slayer, which the program left serving, lets it go,
    // and the program's guard (which would answer keepalived's split brains) stops for good.
    await sandbox.execOn('slayer', ['sh', '-c', `rm -f ${GUARD_CRON_FILE}; ${GUARD_COMMAND} stop; ip addr del ${info.serviceIp}/24 dev eth0`]);
    const keepalived = PARTS.has('keepalived') ? await benchKeepalived(info, watch) : undefined;
    const date = new Date().toISOString();
    const keepalivedMs = keepalived?.takeover.medianMs;
    // Every time figure beside keepalived's takeover in the same run: its median over keepalived's.
    const figure = (what: string, s: Series | undefined) => (s ? [{
      what, medianS: s.medianMs / 1000, minS: s.minMs / 1000, maxS: s.maxMs / 1000,
      ratioToKeepalived: keepalivedMs ? Number((s.medianMs / keepalivedMs).toFixed(2)) : null,
    }] : []);
    const figures = [
      ...figure('EMERGENCY, primary killed: operator command (`npm run switch -- emergency slayer --yes`) to first HTTP answer from the standby', program.emergency),
      ...figure(`planned switchover with final data grab (${SWITCHOVER_DATA_MIB} MiB + 1000 rows): command to first answer`, program.switchover),
      ...figure('no-op up on a converged stack, operator path (`npm run up`)', program.noopUp),
      ...figure('no-op up on a converged stack, CLI path (`pulumi up`)', program.cliNoopUp),
      ...figure('preview on a converged stack, operator path (`npm run preview`)', program.preview),
      ...figure('preview on a converged stack, CLI path (`pulumi preview`)', program.cliPreview),
      ...figure('keepalived takeover, primary killed: kill to first HTTP answer from the standby', keepalived?.takeover),
      ...figure('a refused config, operator path (`npm run preview`) to its refusal', program.refusal?.operator),
      ...figure('a refused config, CLI path (`pulumi preview`) to its refusal', program.refusal?.cli),
      ...Object.entries(program.darkSwitchover ?? {}).flatMap(([size, s]) =>
        figure(`planned switchover, database of ${size}: longest time without any answer (dark window)`, s)),
      ...figure('partition healed, guards: heal to one holder of the service IP (`ip addr` on both)', program.partition?.toOneHolder),
      ...figure('partition healed, guards: two MACs answered ARP at the vantage point', program.partition?.twoMacs),
      ...figure('partition healed, keepalived: heal to one holder', keepalived?.partition?.toOneHolder),
      ...figure('partition healed, keepalived: two MACs answered ARP at the vantage point', keepalived?.partition?.twoMacs),
      ...Object.entries(continuous?.switchover ?? {}).flatMap(([size, s]) => [
        ...figure(`continuous mode: planned switchover, database of ${size}: dark window (rows lost: ${s.rowsLost.join(', ')})`, s.dark),
        ...figure(`continuous mode: planned switchover, database of ${size}: longest time between two commits of the writer`, s.databaseDark)]),
    ];
    const results = {
      date,
      runs: RUNS,
      machine: { cores: require('os').cpus().length, memoryGiB: Math.round(require('os').totalmem() / 2 ** 30) },
      switchoverData: `${SWITCHOVER_DATA_MIB} MiB new file + 1000 new rows per run (full dump and restore of the database)`,
      figures,
      program,
      continuous,
      keepalived,
    };
    mkdirSync(join(__dirname, 'results'), { recursive: true });
    // A run of some parts only does not overwrite the day's full results.
    const parts = process.env.BENCH_PARTS ? `-${[...PARTS].join('-')}` : '';
    const file = join(__dirname, 'results', `${date.slice(0, 10)}${parts}.json`);
    writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
    const s2 = (x: number) => x.toFixed(2);
    console.log([
      `Results (${RUNS} runs each, ${date.slice(0, 10)}, ${results.machine.cores} cores), written to ${file}:`,
      '',
      '| what (seconds) | median | min | max | median / keepalived\'s takeover |',
      '|---|---|---|---|---|',
      ...figures.map((f) => `| ${f.what} | ${s2(f.medianS)} | ${s2(f.minS)} | ${s2(f.maxS)} | ${f.ratioToKeepalived ?? ''} |`),
      ...(continuous ? [`| continuous mode: EMERGENCY, slayer killed mid-stream: rows lost (of a row every 20 ms) | ${continuous.emergency.medianRowsLost} | ` +
        `${Math.min(...continuous.emergency.rowsLost)} | ${Math.max(...continuous.emergency.rowsLost)} | |`] : []),
    ].join('\n'));
  } finally {
    watch.stop();
    if (!wasUp) await sandbox.down();
  }
}

main().catch((error: Error) => {
  console.error(error.stack);
  process.exit(1);
});
