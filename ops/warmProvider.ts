// The dynamic-provider plugin, started by an operator command when the command starts: node and
// @pulumi/pulumi take a second or more to load, which would otherwise come after the program has
// registered its first resource, in the middle of an EMERGENCY. The launcher
// (toolchain/cli/cmd/pulumi-resource-pulumi-nodejs) keeps it: `-warm <port file>` starts the server and
// writes its port; the launcher the engine starts, given the port file in its environment, hands the
// engine that port instead of starting a node. One warm server serves one CLI run.
import { spawn } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import type { Socket } from 'net';
import { tmpdir } from 'os';
import { join } from 'path';

/** The variable (in the CLI's environment, passed on to its plugins) naming the warm server's port file. */
export const PORT_FILE_ENV = 'SOUNZ_PROVIDER_PORT_FILE';

export interface WarmProvider {
  /** What the CLI's environment needs for the engine to take this server. */
  readonly env: Record<string, string>;
  /** The launcher's pid (its group holds the server). */
  readonly pid: number | undefined;
  /** Ends the server (the launcher kills its group when its stdin closes) and removes the port file. */
  stop(): void;
}

/** Starts the server in `projectDir` (the launcher finds @pulumi/pulumi from there, as for the engine). */
export function startWarmProvider(projectDir: string): WarmProvider {
  const dir = mkdtempSync(join(tmpdir(), 'sounz-provider-'));
  const portFile = join(dir, 'port');
  const child = spawn('pulumi-resource-pulumi-nodejs', ['-warm', portFile], { cwd: projectDir, stdio: ['pipe', 'ignore', 'inherit'] });
  // The launcher's own word for a server that never came, so that the engine's launcher starts one at once.
  child.on('error', () => writeFileSync(portFile, 'failed'));
  // It must not keep this process alive; when this process ends, so does the stdin pipe, and the server.
  child.unref();
  (child.stdin as unknown as Socket).unref();
  const remove = () => rmSync(dir, { recursive: true, force: true });
  // Also when the command ends without a run (a refused config, a declined switch).
  process.once('exit', remove);
  return {
    env: { [PORT_FILE_ENV]: portFile },
    pid: child.pid,
    stop: () => {
      child.stdin.destroy();
      remove();
    },
  };
}
