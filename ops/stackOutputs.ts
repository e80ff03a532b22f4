// The stack's outputs as `pulumi stack output --json` prints them (secrets as "[secret]"), read from a
// folder backend's state file in this process, else by that CLI run. A switch's up names the last copy
// the stack recorded in its message, so it waits for this read; the CLI's run costs a Go start and
// the key derivation of the state's secrets provider, in the switch's CPU-bound first second. Anything
// else (another backend, the legacy or a compressed layout, assets in the outputs) goes to the CLI.
import { access, readFile } from 'fs/promises';
import { join } from 'path';
import { markEngineLog, type Engine } from './engine';
import { readYaml } from './stackConfig';

/** The outputs, or undefined when the stack has none recorded (never deployed). */
export async function recordedOutputs(engine: Engine): Promise<Record<string, unknown> | undefined> {
  const mine = await outputsInProcess(engine).catch((error: Error) => void markEngineLog(`outputs left to the CLI: ${error.message}`));
  if (mine) return mine;
  const run = await engine.run(['stack', 'output', '--json'], { allowFailure: true });
  return run.code === 0 ? JSON.parse(run.stdout) as Record<string, unknown> : undefined;
}

/** The root resource's outputs in `<folder>/.pulumi/stacks/<project>/<stack>.json`, or an error saying why the CLI should read them. */
export async function outputsInProcess(engine: Pick<Engine, 'projectDir' | 'stack' | 'environment'>): Promise<Record<string, unknown>> {
  const url = engine.environment.PULUMI_BACKEND_URL;
  if (!url?.startsWith('file:///') || engine.stack.includes('/')) throw new Error('not a stack of a folder backend');
  const root = join(decodeURIComponent(new URL(url).pathname), '.pulumi');
  const [project, meta] = await Promise.all([readYaml(engine.projectDir, 'Pulumi.yaml'), readYaml(root, 'meta.yaml')]);
  if (meta?.version !== 1) throw new Error('not the project layout');
  const file = join(root, 'stacks', String(project?.name), `${engine.stack}.json`);
  const compressed = await Promise.all(['gz', 'zst'].map((ext) => access(`${file}.${ext}`).then(() => ext, () => undefined)));
  if (compressed.some(Boolean)) throw new Error(`a compressed state (.${compressed.filter(Boolean).join(', .')})`);
  const state = JSON.parse(await readFile(file, 'utf8')) as { checkpoint?: { latest?: { resources?: { type: string; parent?: string; outputs?: unknown }[] } } };
  const stack = state.checkpoint?.latest?.resources?.find((resource) => resource.type === 'pulumi:pulumi:Stack' && !resource.parent);
  if (!stack) throw new Error('no stack resource recorded');
  return masked(stack.outputs ?? {}) as Record<string, unknown>;
}

/** The state's mark of a secret value (sdk/go/common/resource/sig). */
const SECRET_SIG = ['4dabf18193072939515e22adb298388d', '1b47061264138c4ac30d75fd1eb44270'] as const;

function masked(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(masked);
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  // A secret, sealed or (in a plaintext state) open, prints as the CLI prints it; any other signed value
  // (an asset, an archive, an output value) the CLI renders in its own way.
  if (record[SECRET_SIG[0]] === SECRET_SIG[1]) return '[secret]';
  if (SECRET_SIG[0] in record) throw new Error(`a signed value (${String(record[SECRET_SIG[0]])}) in the outputs`);
  return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, masked(item)]));
}
