/**
 * Running commands in the root namespace: run (synchronous, throws on failure unless told), runAsync
 * (with a time-out), both with a fixed environment; sleep; the root check every operation starts with.
 */
import { spawn, spawnSync } from 'child_process';

export interface ExecResult { code: number; stdout: string; stderr: string }

export const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root' };

export function run(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string; env?: NodeJS.ProcessEnv } = {}): ExecResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, env: { ...ENV, ...(opts.env ?? {}) }, cwd: '/', maxBuffer: 64 << 20 });
  const res = { code: r.status ?? (r.error ? 127 : 128), stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
  if (res.code !== 0 && !opts.allowFail) {
    throw new Error(`sandbox: ${cmd} ${args.join(' ')} failed (${res.code}): ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return res;
}

export function runAsync(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...ENV, ...(opts.env ?? {}) }, cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => { stderr += String(e); });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('sandbox: must run as root');
}
