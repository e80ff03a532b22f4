// Runs the real Pulumi CLI (put on PATH by scripts/toolchain.sh) for one stack of one project.
// Used by the operator commands, the demo, the benchmarks and the integration tests alike.
import { execFile } from 'child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'fs';
import { Socket } from 'net';
import { randomBytes } from 'crypto';
import { tmpdir } from 'os';
import { join } from 'path';
import type { Pair } from '../model/pairs';
import type { EngineEvent } from '@pulumi/pulumi/automation/events';
import type { ProgramLoader } from './inline';
import type { WarmProvider } from './warmProvider';

export interface EngineResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The stack's config as `pulumi config --json --show-secrets` prints it. */
export type ConfigEntries = Record<string, { value?: string; secret: boolean; objectValue?: unknown }>;

/** One entry of `pulumi stack history --json`, newest first. */
export interface HistoryEntry {
  kind: string;
  result: string;
  message: string;
  /** 0 on the file and PostgreSQL backends, which number no update. */
  version: number;
  startTime: string;
  endTime?: string;
  /** The stack config the update ran with (secrets as "[secret]"). */
  config?: Record<string, { value?: string; secret: boolean }>;
  /** How many resources the update created, updated, left the same...: `{ same: 19 }` for a no-op. */
  resourceChanges?: Record<string, number>;
  /** What the CLI recorded of its environment: git HEAD and its author, the names of PULUMI_* variables, flags. */
  environment?: Record<string, string>;
}

/** The folder of the program itself (Pulumi.yaml), for its stacks: sandbox, operator or bench. */
export { PROJECT_DIR } from '../providers/project';

/**
 * SOUNZ_ENGINE_LOG=<file>: every CLI run logs at -v=9 into it, and the operator commands add their own
 * steps in the same format (markEngineLog), for the benchmark's breakdown of a switch.
 */
const ENGINE_LOG = process.env.SOUNZ_ENGINE_LOG;

/** A line in the engine's own log format (glog: `I<MMDD> <hh:mm:ss.micro> <pid> <file>] <text>`, UTC here). */
export function markEngineLog(text: string): void {
  if (!ENGINE_LOG) return;
  const now = new Date();
  const iso = now.toISOString();
  appendFileSync(ENGINE_LOG, `I${iso.slice(5, 7)}${iso.slice(8, 10)} ${iso.slice(11, 23)}000 ${process.pid} sounz] ${text}\n`);
}

/**
 * The CLI's reads scripts/ops.sh started at the command's first instant, before node (SOUNZ_EARLY_READS
 * "<fd>:<args>;...", of the stack SOUNZ_EARLY_STACK): each is taken once, by the first run of the same
 * arguments on that stack, instead of a CLI run of its own. On its descriptor: "<exit code> <stdout
 * bytes>\n", stdout, then stderr.
 */
const earlyReads = new Map((process.env.SOUNZ_EARLY_READS ?? '').split(';').filter(Boolean).map((entry) => {
  const colon = entry.indexOf(':');
  return [entry.slice(colon + 1), Number(entry.slice(0, colon))] as const;
}));

function takeEarlyRead(stack: string, args: string[]): Promise<EngineResult> | undefined {
  const fd = earlyReads.get(args.join(' '));
  if (fd === undefined || stack !== process.env.SOUNZ_EARLY_STACK) return undefined;
  earlyReads.delete(args.join(' '));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    new Socket({ fd, readable: true, writable: false })
      .on('data', (chunk: Buffer) => chunks.push(chunk))
      .on('error', reject)
      .on('end', () => {
        const all = Buffer.concat(chunks);
        const head = all.indexOf(10);
        const [code, length] = all.subarray(0, head).toString().split(' ').map(Number);
        const body = all.subarray(head + 1);
        resolve({ code, stdout: body.subarray(0, length).toString(), stderr: body.subarray(length).toString() });
      });
  });
}

export class PulumiError extends Error {
  constructor(readonly args: string[], readonly result: EngineResult) {
    super(`pulumi ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  }
}

export interface EngineOptions {
  /** Folder holding Pulumi.yaml. */
  projectDir: string;
  stack: string;
  /** file:// backend folder; a fresh temporary one when omitted (and removed by dispose). */
  backendDir?: string;
  /** Any other backend (`postgres://...`), instead of a folder; dispose leaves it. */
  backendUrl?: string;
  /** Passphrase of the stack's secrets; a random one when omitted. Never written to the repo. */
  passphrase?: string;
  /** Use the backend and passphrase of the environment (an operator's own stack) instead. */
  ambient?: boolean;
}

export interface RunOptions {
  stdin?: string;
  allowFailure?: boolean;
  /** Aborting kills the CLI with SIGKILL, as a lost terminal or the OOM killer would. */
  signal?: AbortSignal;
  /** Told the CLI's pid once it started (tests find the run's processes from it). */
  onSpawn?: (pid: number) => void;
  /** The program, loaded and run in this process (ops/inline.ts) instead of by the language host from the project. */
  program?: ProgramLoader;
  /** The dynamic-provider server started before the run (ops/warmProvider.ts), taken by the engine and ended with the run. */
  provider?: WarmProvider;
  /** Each engine event as it happens (ops/eventStream.ts): an operator command's progress lines. */
  onEvent?: (event: EngineEvent) => void;
}

export class Engine {
  readonly projectDir: string;
  readonly stack: string;
  readonly backendDir: string;
  private readonly ownsBackend: boolean;
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: EngineOptions) {
    this.projectDir = options.projectDir;
    this.stack = options.stack;
    this.ownsBackend = !options.ambient && options.backendDir === undefined && options.backendUrl === undefined;
    this.backendDir = options.backendDir ?? (this.ownsBackend ? mkdtempSync(join(tmpdir(), 'sounz-backend-')) : '');
    this.env = {
      ...process.env,
      PULUMI_SKIP_UPDATE_CHECK: 'true',
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
      ...(options.ambient ? {} : {
        // metadata=skip: no `.attrs` sidecar beside each state file. The file bucket renames a state
        // file into place (atomic) but rewrites its sidecar in place, so an `up` killed at that moment
        // leaves an empty sidecar and every later command fails with "failed to load checkpoint: EOF".
        PULUMI_BACKEND_URL: options.backendUrl ?? `file://${this.backendDir}?metadata=skip`,
        PULUMI_CONFIG_PASSPHRASE: options.passphrase ?? randomBytes(24).toString('base64'),
      }),
    };
  }

  /** The environment the CLI runs with (backend and passphrase included), for a command of one's own. */
  get environment(): NodeJS.ProcessEnv {
    return this.env;
  }

  /** Runs `pulumi <args> --stack <stack>` in the project; rejects with PulumiError on a non-zero exit. */
  async run(args: string[], options: RunOptions = {}): Promise<EngineResult> {
    const fullArgs = [...args, '--stack', this.stack, '--non-interactive', ...(ENGINE_LOG ? ['--logtostderr', '-v=9'] : [])];
    // gRPC servers of ours, loaded only by the runs that use them (the operator commands load them early).
    const spawn = async (extra: string[]) => (options.program
      ? (await import('./inline')).withInlineProgram(options.program, (inline) => this.spawn([...fullArgs, ...extra, ...inline], options))
      : this.spawn([...fullArgs, ...extra], options));
    const { onEvent } = options;
    const early = options.stdin === undefined && !options.program ? takeEarlyRead(this.stack, args) : undefined;
    const result = await (early ?? (onEvent ? (await import('./eventStream')).withEventStream(onEvent, spawn) : spawn([])))
      .finally(() => options.provider?.stop());
    if (ENGINE_LOG) appendFileSync(ENGINE_LOG, result.stderr);
    if (result.code !== 0 && !options.allowFailure) throw new PulumiError(fullArgs, result);
    return result;
  }

  private spawn(fullArgs: string[], options: RunOptions): Promise<EngineResult> {
    return new Promise<EngineResult>((resolve) => {
      const child = execFile('pulumi', fullArgs, {
        cwd: this.projectDir, env: { ...this.env, ...options.provider?.env, ...(options.onEvent ? { PULUMI_DEBUG_COMMANDS: 'true' } : {}) },
        maxBuffer: 64 << 20, signal: options.signal, killSignal: 'SIGKILL',
      },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, stdout, stderr });
        });
      if (child.pid !== undefined) options.onSpawn?.(child.pid);
      if (options.stdin !== undefined) child.stdin?.end(options.stdin);
    });
  }

  async init(): Promise<void> {
    await this.run(['stack', 'select', '--create']);
  }

  async setConfig(key: string, value: string, options: { secret?: boolean; path?: boolean } = {}): Promise<void> {
    const flags = [...(options.secret ? ['--secret'] : []), ...(options.path ? ['--path'] : [])];
    // The value goes through stdin so that secrets never appear in a process listing.
    await this.run(['config', 'set', ...flags, key], { stdin: value });
  }

  /** Declares the statuses of both machines (the program's `sounz:` config) in one config write. */
  async setStatuses(pair: Pair): Promise<void> {
    await this.run(['config', 'set-all', '--plaintext', `sounz:primaryStatus=${pair.primary}`,
      '--plaintext', `sounz:secondaryStatus=${pair.secondary}`]);
  }

  up(message: string, options: Pick<RunOptions, 'signal' | 'onSpawn' | 'program' | 'provider' | 'onEvent'> & { extra?: string[] } = {}): Promise<EngineResult> {
    return this.run(['up', '--yes', '--skip-preview', '--message', message, ...(options.extra ?? [])], options);
  }

  preview(extra: string[] = [], options: Pick<RunOptions, 'program' | 'provider' | 'allowFailure'> = {}): Promise<EngineResult> {
    return this.run(['preview', '--diff', ...extra], options);
  }

  refresh(message: string, extra: string[] = [], options: Pick<RunOptions, 'program' | 'provider' | 'onEvent'> = {}): Promise<EngineResult> {
    return this.run(['refresh', '--yes', '--skip-preview', '--diff', '--message', message, ...extra], options);
  }

  /** The stack's config as the CLI reads it, secrets opened: the only reader of a stack's config. */
  async config(): Promise<ConfigEntries> {
    return JSON.parse((await this.run(['config', '--json', '--show-secrets'])).stdout) as ConfigEntries;
  }

  /** One output the stack last recorded, as text, without opening its secrets (undefined when the stack has none such). */
  async output(name: string): Promise<string | undefined> {
    const { code, stdout } = await this.run(['stack', 'output', name], { allowFailure: true });
    return code === 0 ? stdout.trim() : undefined;
  }

  async outputs(): Promise<Record<string, unknown>> {
    const { stdout } = await this.run(['stack', 'output', '--json', '--show-secrets']);
    return JSON.parse(stdout) as Record<string, unknown>;
  }

  async history(): Promise<HistoryEntry[]> {
    const { stdout } = await this.run(['stack', 'history', '--json']);
    return JSON.parse(stdout) as HistoryEntry[];
  }

  async exportState(): Promise<string> {
    return (await this.run(['stack', 'export'])).stdout;
  }

  /** Destroys the stack's resources, removes the stack, and the backend folder if this engine made it. */
  async dispose(options: { destroy?: boolean } = { destroy: true }): Promise<void> {
    if (options.destroy) await this.run(['destroy', '--yes', '--skip-preview', '--message', 'dispose'], { allowFailure: true });
    await this.run(['stack', 'rm', '--yes', '--force'], { allowFailure: true });
    rmSync(join(this.projectDir, `Pulumi.${this.stack}.yaml`), { force: true });
    if (this.ownsBackend) rmSync(this.backendDir, { recursive: true, force: true });
  }
}
