// A switch reads the stack's last outputs from the folder backend's state file (ops/stackOutputs.ts):
// what it reads must be what `pulumi stack output --json` prints, and whatever that reader does not
// know goes to the CLI. The states here are imported, as an operator could, so each shape is exact.
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
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
const secret = (value: unknown) => ({ [SIG]: '1b47061264138c4ac30d75fd1eb44270', plaintext: JSON.stringify(value) });
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

test('a compressed state goes to the CLI', async () => {
  const stateFile = join(engine.backendDir, '.pulumi', 'stacks', 'outputs-read', 'outputs-read.json');
  writeFileSync(`${stateFile}.zst`, '');
  try {
    await expect(outputsInProcess(engine)).rejects.toThrow('a compressed state (.zst)');
  } finally {
    rmSync(`${stateFile}.zst`);
  }
});
