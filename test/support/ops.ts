// Runs an operator command (`npm run <name>`: scripts/ops.sh) against a test's stack, as an operator
// at a shell would, and returns its exit code and output instead of throwing on a non-zero exit.
import { execFile } from 'child_process';
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
