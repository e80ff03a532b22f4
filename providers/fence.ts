// Fence: the operator's fencing command (sounz:fenceCommand, e.g. an IPMI power-off), run on the
// operator's machine for a host declared down that did not answer the preflight, before the other
// host claims the service IP (the claim depends on it). The command is an argv run without a shell
// (execFile): no value of it is read by a shell of ours. It runs when the resource is created and
// again for each new switch generation: once per EMERGENCY, not on a re-run that changes nothing.
// A failing command fails the resource, so the claim never starts, with the command's output in
// the error.
import * as pulumi from '@pulumi/pulumi';
import { HostResource } from './contract';

export interface FenceInputs {
  /** The name of the host to fence (what `{host}` became in the argv). */
  host: string;
  /** The command and its arguments, `{host}` already replaced. */
  argv: string[];
  /** The switch generation this fencing belongs to. */
  generation: number;
  /** Milliseconds the command may run. */
  timeoutMs: number;
}

export interface FenceOutcome {
  exitCode: number;
  /** stdout and stderr, at most 4000 characters. */
  output: string;
}

interface FenceOutputs extends FenceInputs, FenceOutcome {}

/** Runs argv without a shell; resolves with its exit code (a signal or a timeout counts as a failure) and output. */
export type LocalRunner = (argv: string[], timeoutMs: number) => Promise<FenceOutcome>;

export const runLocally: LocalRunner = (argv, timeoutMs) => new Promise((resolve) => {
  const { execFile } = require('child_process') as typeof import('child_process');
  execFile(argv[0], argv.slice(1), { timeout: timeoutMs, maxBuffer: 1024 * 1024, shell: false }, (error, stdout, stderr) => {
    const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 127) : 0;
    const spawnError = error && typeof (error as { code?: unknown }).code !== 'number' ? `${error.message}\n` : '';
    const output = `${stdout}${stderr}${spawnError}`.trim();
    resolve({ exitCode: code, output: output.length > 4000 ? `${output.slice(0, 4000)}...` : output });
  });
});

/** The operator's argv for `host`: `{host}` in any element becomes the host's name, nothing else changes. */
export function fenceArgv(command: readonly string[], host: string): string[] {
  return command.map((arg) => arg.split('{host}').join(host));
}

export function fenceProvider(run: LocalRunner = runLocally): pulumi.dynamic.ResourceProvider {
  const fence = async (inputs: FenceInputs): Promise<FenceOutputs> => {
    const outcome = await run(inputs.argv, inputs.timeoutMs);
    if (outcome.exitCode !== 0) {
      throw new Error(`fencing ${inputs.host} failed, so the service IP is not claimed: ${JSON.stringify(inputs.argv)} ` +
        `exited ${outcome.exitCode}: ${outcome.output || '(no output)'}. NOBODY SERVES until one of: fix the command ` +
        `(pulumi config set --path 'sounz:fenceCommand[0]' ...) and run the switch again; or power ${inputs.host} off by hand ` +
        `(it must not hold the service IP), then run the switch once without fencing: pulumi config rm sounz:fenceCommand, ` +
        `the switch, and set the command again (a plain re-run runs the same command and fails the same way).`);
    }
    return { ...inputs, ...outcome };
  };
  return {
    async check(_olds: FenceInputs, news: FenceInputs) {
      const { z } = require('zod') as typeof import('zod');
      const { __provider, ...inputs } = news as FenceInputs & { __provider?: unknown };
      const parsed = z.object({
        host: z.string().min(1),
        argv: z.array(z.string().min(1)).min(1),
        generation: z.number().int().nonnegative(),
        timeoutMs: z.number().int().positive().default(120_000),
      }).strict().safeParse(inputs);
      if (parsed.success) return { inputs: { ...parsed.data, __provider } as FenceInputs, failures: [] };
      return { failures: parsed.error.issues.map((issue) => ({ property: issue.path.join('.') || '(inputs)', reason: issue.message })) };
    },
    async diff(_id: string, olds: FenceOutputs, news: FenceInputs) {
      const changed = (['host', 'argv', 'generation', 'timeoutMs'] as const)
        .filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
      return { changes: changed.length > 0, replaces: changed.includes('host') ? ['host'] : [], deleteBeforeReplace: false };
    },
    async create(inputs: FenceInputs) {
      return { id: `fence:${inputs.host}`, outs: await fence(inputs) };
    },
    async update(_id: string, _olds: FenceOutputs, news: FenceInputs) {
      return { outs: await fence(news) };
    },
    async read(id: string, props: FenceOutputs) {
      return { id, props };
    },
    async delete() {
      // Nothing to undo: a fenced host stays fenced until the operator brings it back.
    },
  };
}

export interface FenceArgs {
  host: pulumi.Input<string>;
  argv: pulumi.Input<string[]>;
  generation: pulumi.Input<number>;
}

export class Fence extends HostResource {
  declare readonly exitCode: pulumi.Output<number>;
  declare readonly output: pulumi.Output<string>;
  declare readonly argv: pulumi.Output<string[]>;

  constructor(name: string, args: FenceArgs, opts?: pulumi.CustomResourceOptions) {
    super('fence', fenceProvider, name, { ...args, timeoutMs: undefined, exitCode: undefined, output: undefined }, opts);
  }
}
