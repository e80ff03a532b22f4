// Runs an operator command (`npm run <name>`: scripts/ops.sh) against a test's stack, as an operator
// at a shell would, and returns its exit code and output instead of throwing on a non-zero exit.
import { execFile, spawn } from 'child_process';
import { join } from 'path';
import type { Engine } from '../../ops/engine';

export interface OpsResult { code: number; stdout: string; stderr: string }

/** `command` is the file in ops/ (switch, replicateNow, status, history); `args` follow it. */
export function runOps(engine: Engine, command: string, args: string[], stdin = ''): Promise<OpsResult> {
  return new Promise((resolve) => {
    const child = execFile('bash', [join(__dirname, '..', '..', 'scripts', 'ops.sh'), command, ...args, '--stack', engine.stack],
      { env: engine.environment, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
    child.stdin!.end(stdin);
  });
}

/** A line of an operator command's output and when it arrived here (ms after the command was started). */
export interface TimedLine { at: number; text: string }

/** runOps, with each line of stdout timed as it arrives (a command that streams its progress), and the exit's time. */
export function runOpsTimed(engine: Engine, command: string, args: string[]): Promise<OpsResult & { lines: TimedLine[]; exitedAt: number }> {
  return new Promise((resolve) => {
    const start = Date.now();
    const lines: TimedLine[] = [];
    let partial = '';
    let stderr = '';
    const child = spawn('bash', [join(__dirname, '..', '..', 'scripts', 'ops.sh'), command, ...args, '--stack', engine.stack],
      { env: engine.environment, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => {
      const at = Date.now() - start;
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop()!;
      for (const text of parts) lines.push({ at, text });
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('close', (code) => {
      const exitedAt = Date.now() - start;
      if (partial) lines.push({ at: exitedAt, text: partial });
      resolve({ code: code ?? 1, stdout: lines.map((l) => l.text).join('\n'), stderr, lines, exitedAt });
    });
  });
}
