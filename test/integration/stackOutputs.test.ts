// A switch reads the stack's last outputs from the folder backend's state file (ops/stackOutputs.ts):
// what it reads must be what `pulumi stack output --json` prints, and whatever that reader does not
// know goes to the CLI. The states here are imported, as an operator could, so each shape is exact.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Engine } from '../../ops/engine';
import { readYaml } from '../../ops/stackConfig';
import { outputsInProcess, recordedOutputs } from '../../ops/stackOutputs';

jest.setTimeout(120_000);

const projectDir = mkdtempSync(join(tmpdir(), 'sounz-outputs-project-'));
writeFileSync(join(projectDir, 'Pulumi.yaml'), 'name: outputs-read\nruntime: nodejs\n');
const engine = new Engine({ projectDir, stack: 'outputs-read' });
const cli = async () => JSON.parse((await engine.run(['stack', 'output', '--json'])).stdout) as unknown;

const SIG = '4dabf18193072939515e22adb298388d';
const SECRET = '1b47061264138c4ac30d75fd1eb44270';
const secret = (value: unknown) => ({ [SIG]: SECRET, plaintext: JSON.stringify(value) });
const stackUrn = (name = 'outputs-read-outputs-read', parent = '') => `urn:pulumi:outputs-read::outputs-read::${parent}pulumi:pulumi:Stack::${name}`;

/** Replaces the stack's state with these resources, through `pulumi stack import`. */
async function importState(resources: object[], extra: string[] = []): Promise<void> {
  const file = join(projectDir, 'state.json');
  // The stack's own passphrase provider, which seals the secrets the import brings in plaintext.
  const salt = (await readYaml(projectDir, 'Pulumi.outputs-read.yaml'))!.encryptionsalt;
  const secrets_providers = { type: 'passphrase', state: { salt } };
  writeFileSync(file, JSON.stringify({ version: 3, deployment: { manifest: { time: new Date().toISOString(), magic: '', version: '' }, secrets_providers, resources } }));
  await engine.run(['stack', 'import', '--file', file, ...extra]);
}

beforeAll(() => engine.init());
afterAll(async () => {
  await engine.dispose({ destroy: false });
  rmSync(projectDir, { recursive: true, force: true });
});

test('plain and secret outputs, nested too, read as the CLI prints them; a nested stack resource is not the root', async () => {
  await importState([
    { urn: stackUrn('inner', 'pulumi:pulumi:Stack$'), custom: false, type: 'pulumi:pulumi:Stack', parent: stackUrn(), outputs: { decoy: 'inner' } },
    { urn: stackUrn(), custom: false, type: 'pulumi:pulumi:Stack', outputs: {
      serviceHolder: 'slayer', lastReplication: '2026-12-02T02:30:00.000Z', key: secret('-----BEGIN KEY-----'),
      hosts: { slayer: { address: '198.51.100.11', password: secret('pässword') }, list: [1, secret(2)] } } },
  // The child first, which only a forced import writes: the reader must pick the root by its lack of a parent, as the CLI does.
  ], ['--force']);
  const read = await outputsInProcess(engine);
  expect(read).toEqual(await cli());
  expect(read).toMatchObject({ serviceHolder: 'slayer', key: '[secret]', hosts: { slayer: { password: '[secret]' }, list: [1, '[secret]'] } });
});

test('an asset in the outputs goes to the CLI, which renders it its own way', async () => {
  await importState([{ urn: stackUrn(), custom: false, type: 'pulumi:pulumi:Stack',
    outputs: { serviceHolder: 'slayer', page: { [SIG]: 'c44067f5952c0a294b673a41bacd8c17', text: 'hello' } } }]);
  await expect(outputsInProcess(engine)).rejects.toThrow('a signed value (c44067f5952c0a294b673a41bacd8c17) in the outputs');
  expect(await recordedOutputs(engine)).toEqual(await cli());
});

const stateFile = () => join(engine.backendDir, '.pulumi', 'stacks', 'outputs-read', 'outputs-read.json');

/** The state file as the CLI wrote it, changed by hand (as only a bug or an operator would) for the reader's checks. */
type State = { version: number; checkpoint: { latest: { secrets_providers: unknown; resources: Record<string, unknown>[] } } };
function editState(edit: (state: State) => void): void {
  const state = JSON.parse(readFileSync(stateFile(), 'utf8')) as State;
  edit(state);
  // JSON.stringify cannot write a number beyond a double: a placeholder stands for one.
  writeFileSync(stateFile(), JSON.stringify(state).replace('"1e400"', '1e400'));
}
const rootOutputs = (state: State) => state.checkpoint.latest.resources[0].outputs as Record<string, unknown>;

/** What a switch reads through the CLI: the printed outputs, or none when the CLI fails. */
const printedOrNone = (of = engine) => of.run(['stack', 'output', '--json']).then((run) => JSON.parse(run.stdout) as unknown, () => undefined);

test('a wrong passphrase: read as the CLI prints while no output is sealed, else left to the CLI, which fails', async () => {
  const wrong = new Engine({ projectDir, stack: 'outputs-read', backendDir: engine.backendDir, passphrase: 'not the passphrase' });
  // Sealed only in another resource's inputs, as the SSH key is in the real stack's: the CLI prints.
  const thing = { urn: 'urn:pulumi:outputs-read::outputs-read::pulumi:pulumi:Stack$sounz:x:Thing::thing', custom: false, type: 'sounz:x:Thing', parent: stackUrn(), inputs: { key: secret('k') } };
  await importState([{ urn: stackUrn(), custom: false, type: 'pulumi:pulumi:Stack', outputs: { serviceHolder: 'slayer' } }, thing]);
  expect(await outputsInProcess(wrong)).toEqual({ serviceHolder: 'slayer' });
  expect(await printedOrNone(wrong)).toEqual({ serviceHolder: 'slayer' });
  await importState([{ urn: stackUrn(), custom: false, type: 'pulumi:pulumi:Stack', outputs: { serviceHolder: 'slayer', key: secret('k') } }, thing]);
  await expect(outputsInProcess(wrong)).rejects.toThrow('the passphrase does not open the salt');
  expect(await printedOrNone(wrong)).toBeUndefined();
  expect(await recordedOutputs(wrong)).toBeUndefined();
  expect(await outputsInProcess(engine)).toEqual(await printedOrNone());
});

test.each<[string, (state: State) => void, string]>([
  ['a checkpoint of another version', (state) => { state.version = 1; }, 'a checkpoint of version 1'],
  ['a secret both sealed and open', (state) => { (rootOutputs(state).key as Record<string, unknown>).plaintext = '"k"'; }, 'a malformed secret'],
  ['an open secret that is not JSON', (state) => { rootOutputs(state).key = { [SIG]: SECRET, plaintext: 'k' }; }, 'is not valid JSON'],
  ['a signed value inside an open secret', (state) => { rootOutputs(state).key = { [SIG]: SECRET, plaintext: JSON.stringify({ [SIG]: 'bogus' }) }; }, 'a signed value inside a secret'],
  ['a lone surrogate', (state) => { rootOutputs(state).odd = '\ud800'; }, 'a string Go would print otherwise'],
  ['a number beyond a double', (state) => { rootOutputs(state).big = '1e400'; }, 'a number beyond a double'],
  ['a field Go matches ignoring case', (state) => { state.checkpoint.latest.resources[0].Outputs = { a: 1 }; }, 'a field spelled "Outputs"'],
  ['another secrets provider', (state) => { state.checkpoint.latest.secrets_providers = { type: 'bogus', state: {} }; }, 'state secrets by bogus'],
])('%s goes to the CLI', async (_case, edit, reason) => {
  await importState([{ urn: stackUrn(), custom: false, type: 'pulumi:pulumi:Stack', outputs: { serviceHolder: 'slayer', key: secret('k') } }]);
  editState(edit);
  await expect(outputsInProcess(engine)).rejects.toThrow(reason);
  expect(await recordedOutputs(engine)).toEqual(await printedOrNone());
});

test('a compressed state goes to the CLI', async () => {
  writeFileSync(`${stateFile()}.zst`, '');
  try {
    await expect(outputsInProcess(engine)).rejects.toThrow('a compressed state (.zst)');
  } finally {
    rmSync(`${stateFile()}.zst`);
  }
});
