// The bench's instruments: who answers on the service IP from the vantage point and when, a series of
// runs as min/median/max, and the operator commands run as an operator runs them (scripts/ops.sh),
// from this checkout or, to compare two commits in alternating runs, from another (BENCH_VS).
import { ChildProcess, execFile, spawn } from 'child_process';
import { join } from 'path';
import { promisify } from 'util';
import * as sandbox from '../sandbox';
import type { Pair } from '../model/pairs';
import type { Engine } from '../ops/engine';

export const RUNS = Number(process.env.BENCH_RUNS ?? 5);
export const NORMAL: Pair = { primary: 'production', secondary: 'standby' };
export const RECOVERY: Pair = { primary: 'production_as_standby', secondary: 'standby_as_production' };
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The checkout whose operator commands the alternating runs compare with this one's (a clone of another commit). */
export const VS = process.env.BENCH_VS;
/** This checkout. */
export const HERE = join(__dirname, '..');

/** Asks the service IP over HTTP every 20 ms from the vantage point and keeps who answered, when. */
export class Watch {
  private readonly child: ChildProcess;
  readonly answers: { at: number; host: string }[] = [];

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
      await sleep(20);
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

export interface Series {
  runsMs: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
  phases?: Record<string, number>;
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export function series(runsMs: number[], phaseRuns: Record<string, number>[] = []): Series {
  const sorted = [...runsMs].sort((a, b) => a - b);
  const phases = phaseRuns.length === 0 ? undefined
    : Object.fromEntries(Object.keys(phaseRuns[0]).map((phase) => [phase, median(phaseRuns.map((p) => p[phase]))]));
  return { runsMs, medianMs: median(runsMs), minMs: sorted[0], maxMs: sorted[sorted.length - 1], phases };
}

export async function timed<T>(work: () => Promise<T>): Promise<number> {
  const started = Date.now();
  await work();
  return Date.now() - started;
}

/** The longest an operator command may take in the bench (a switch with its data grab takes seconds). */
const OPS_LIMIT_MS = 15 * 60_000;

/** SOUNZ_ENGINE_LOG for a traced run (ops/engine.ts markEngineLog). */
export const trace: { env: Record<string, string> } = { env: {} };

/**
 * An operator command (scripts/ops.sh: `npm run <command>` without npm's own start) against the bench's
 * stack, from `checkout` (this one by default); the stack's config file is the one in this checkout.
 */
export async function ops(engine: Engine, command: string, args: string[], checkout = HERE): Promise<{ started: number; ended: number }> {
  const started = Date.now();
  console.log(`bench: npm run ${command} -- ${args.join(' ')}`);
  // Bounded, so that a command that never ends ends the bench with its name instead of holding it.
  await promisify(execFile)('bash', [join(checkout, 'scripts', 'ops.sh'), command, ...args, '--stack', engine.stack],
    { env: { ...engine.environment, ...trace.env }, maxBuffer: 64 << 20, timeout: OPS_LIMIT_MS }).catch((error: { code?: number }) => {
    // A refused config is the refusal bench's expected end.
    if (!(command === 'up' && args.includes('--preview') && error.code === 1)) throw error;
  });
  return { started, ended: Date.now() };
}

/** The operator's switch, decided (`npm run switch -- ... --yes`). */
export const operator = (engine: Engine, args: string[], checkout = HERE) => ops(engine, 'switch', [...args, '--reason', 'bench', '--yes'], checkout);

export const duration = async (run: Promise<{ started: number; ended: number }>) => {
  const { started, ended } = await run;
  return ended - started;
};

export async function converge(engine: Engine, pair: Pair, message: string): Promise<void> {
  console.log(`bench: pulumi up (${message})`);
  await engine.setStatuses(pair);
  await engine.up(message);
}

/** Whether `host` has `ip` on its eth0. */
export const holds = async (host: sandbox.HostName, ip: string) =>
  (await sandbox.execOn(host, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(`inet ${ip}/`);
