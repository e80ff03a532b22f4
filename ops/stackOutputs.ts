// The stack's outputs as `pulumi stack output --json` prints them (secrets as "[secret]"), read from a
// folder backend's state file in this process, else by that CLI run. A switch's up names the last copy
// the stack recorded in its message, so it waits for this read; the CLI's run costs a Go start and
// the key derivation of the state's secrets provider, in the switch's CPU-bound first second. Anything
// else (another backend or secrets provider, the legacy or a compressed layout, a wrong passphrase,
// assets in the outputs, a state written otherwise than the CLI writes it) goes to the CLI.
import { markEngineLog, type Engine } from './engine';
import { LONE_SURROGATE, passphrase, passphraseSecrets, readText, readYaml, stateFileOf, strictParts } from './stackConfig';

/** The outputs, or undefined when the stack has none recorded (never deployed). */
export async function recordedOutputs(engine: Engine): Promise<Record<string, unknown> | undefined> {
  const mine = await outputsInProcess(engine).catch((error: Error) => void markEngineLog(`outputs left to the CLI: ${error.message}`));
  if (mine) return mine;
  const run = await engine.run(['stack', 'output', '--json'], { allowFailure: true });
  return run.code === 0 ? JSON.parse(run.stdout) as Record<string, unknown> : undefined;
}

/** The root resource's outputs in `<folder>/.pulumi/stacks/<project>/<stack>.json`, or an error saying why the CLI should read them. */
export async function outputsInProcess(engine: Pick<Engine, 'projectDir' | 'stack' | 'environment'>): Promise<Record<string, unknown>> {
  const project = await readYaml(engine.projectDir, 'Pulumi.yaml');
  const { root, file, forms } = await stateFileOf(engine, String(project?.name));
  if ((await readYaml(root, 'meta.yaml'))?.version !== 1) throw new Error('not the project layout');
  const compressed = forms.filter((ext) => ext !== '');
  if (compressed.length > 0) throw new Error(`a compressed state (${compressed.join(', ')})`);
  const state = goJsonParse(await readText(file)) as Checkpoint;
  if (state.version !== 3) throw new Error(`a checkpoint of version ${String(state.version)}`);
  const latest = state.checkpoint?.latest;
  const provider = latest?.secrets_providers;
  for (const record of [state, state.checkpoint, latest, provider, provider?.state, ...(latest?.resources ?? [])]) exactFields(record);
  const stack = latest?.resources?.find((resource) => resource.type === 'pulumi:pulumi:Stack' && !resource.parent);
  if (!stack) throw new Error('no stack resource recorded');
  const sealed: string[] = [];
  const outputs = masked(stack.outputs ?? {}, sealed) as Record<string, unknown>;
  // The CLI sets up the state's secrets provider before it prints, and opens the outputs' sealed values
  // (so a wrong passphrase fails then, though not when no output is sealed): the same here, the key
  // derived once for config and state.
  if (provider === undefined) {
    if (sealed.length > 0) throw new Error('sealed outputs without a secrets provider');
    return outputs;
  }
  if (provider.type !== 'passphrase' || typeof provider.state?.salt !== 'string') throw new Error(`state secrets by ${String(provider.type)}`);
  if (sealed.length === 0) {
    // Set up, not used: the salt's form and a passphrase to hand, without the key's derivation.
    strictParts(provider.state.salt, 'salt');
    await passphrase(engine.projectDir, engine.environment);
    return outputs;
  }
  const open = await passphraseSecrets(engine, provider.state.salt);
  for (const value of sealed) secretContent(open(value));
  return outputs;
}

/** JSON as Go's decoder takes it here: a number beyond a double's range is an error (JSON.parse makes it Infinity). */
function goJsonParse(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('a number beyond a double');
    return value;
  });
}

/** A secret's content as the CLI reads it: JSON, with no signed value inside. */
function secretContent(text: string): void {
  goJsonParse(text);
  if (text.includes(SECRET_SIG[0])) throw new Error('a signed value inside a secret');
}

/** The fields read here, which Go's decoder matches ignoring case: any other spelling, or a non-ASCII key (Go folds some), goes to the CLI. */
const FIELDS = ['version', 'checkpoint', 'latest', 'secrets_providers', 'resources', 'type', 'state', 'salt', 'parent', 'outputs'];

function exactFields(record: unknown): void {
  if (typeof record !== 'object' || record === null) return;
  for (const key of Object.keys(record)) {
    if (/[^\x20-\x7e]/.test(key) || (FIELDS.includes(key.toLowerCase()) && !FIELDS.includes(key))) throw new Error(`a field spelled ${JSON.stringify(key)}`);
  }
}

type Checkpoint = { version?: number; checkpoint?: { latest?: {
  secrets_providers?: { type?: string; state?: { salt?: unknown } };
  resources?: { type: string; parent?: string; outputs?: unknown }[];
} } };

/** The state's mark of a secret value (sdk/go/common/resource/sig). */
const SECRET_SIG = ['4dabf18193072939515e22adb298388d', '1b47061264138c4ac30d75fd1eb44270'] as const;

/**
 * The outputs as the CLI prints them: each secret, sealed (its text kept in `sealed` to be opened) or
 * (in a plaintext state) open to JSON, as "[secret]"; any other signed value (an asset, an archive, an
 * output value), a malformed secret or a lone UTF-16 surrogate (Go prints U+FFFD) the CLI handles its own way.
 */
function masked(value: unknown, sealed: string[]): unknown {
  if (typeof value === 'string' && LONE_SURROGATE.test(value)) throw new Error('a string Go would print otherwise');
  if (Array.isArray(value)) return value.map((item) => masked(item, sealed));
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  if (record[SECRET_SIG[0]] === SECRET_SIG[1]) {
    const { ciphertext, plaintext } = record;
    if ((typeof ciphertext === 'string') === (typeof plaintext === 'string')) throw new Error('a malformed secret');
    if (typeof plaintext === 'string') secretContent(plaintext);
    else sealed.push(ciphertext as string);
    return '[secret]';
  }
  if (SECRET_SIG[0] in record) throw new Error(`a signed value (${String(record[SECRET_SIG[0]])}) in the outputs`);
  return Object.fromEntries(Object.entries(record).map(([key, item]) => [masked(key, sealed) as string, masked(item, sealed)]));
}
