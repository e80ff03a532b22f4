// The real engine end to end on a throwaway stack: our language host, the dynamic-provider
// plugin, a file backend and the CLI verbs operators use (preview --diff, up, refresh, history, destroy).
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Engine } from '../../ops/engine';

jest.setTimeout(120_000);

const work = mkdtempSync(join(tmpdir(), 'sounz-engine-test-'));
const file = join(work, 'greeting.txt');
const engine = new Engine({ projectDir: join(__dirname, 'fixtures', 'local-file'), stack: 'engine-test' });

beforeAll(async () => {
  await engine.init();
  await engine.setConfig('path', file);
  await engine.setConfig('content', 'hello');
});
afterAll(() => engine.dispose({ destroy: false }));

test('preview --diff shows the create and touches nothing', async () => {
  const { stdout } = await engine.preview();
  expect(stdout).toMatch(/\+ pulumi-nodejs:dynamic:Resource: \(create\)/);
  expect(stdout).toContain(`path      : "${file}"`);
  expect(existsSync(file)).toBe(false);
});

test('the engine finds the language host and the dynamic-provider plugin locally, downloading nothing', async () => {
  const { stderr } = await engine.run(['preview', '-v=6', '--logtostderr']);
  expect(stderr).toMatch(/GetPluginPath\(language, nodejs, .*\): found next to current executable/);
  expect(stderr).toMatch(/GetPluginPath\(resource, pulumi-nodejs, .*\): found next to current executable/);
  // The one log line naming a download is the engine noting an empty pluginDownloadURL field.
  expect(stderr.split('\n').filter((line) => /download/i.test(line) && !/pluginDownloadURL/.test(line))).toEqual([]);
});

test('up creates the file', async () => {
  await engine.up('create the greeting');
  expect(readFileSync(file, 'utf8')).toBe('hello');
  expect(await engine.outputs()).toEqual({ path: file });
});

test('a config change previews as a property-level update, then applies', async () => {
  await engine.setConfig('content', 'changed');
  const { stdout } = await engine.preview();
  expect(stdout).toMatch(/~ pulumi-nodejs:dynamic:Resource: \(update\)/);
  expect(stdout).toContain('~ content: "hello" => "changed"');
  await engine.up('change the greeting');
  expect(readFileSync(file, 'utf8')).toBe('changed');
});

test('a hand edit is found by refresh and undone by the next up', async () => {
  writeFileSync(file, 'edited by hand');
  const { stdout } = await engine.refresh('find drift');
  expect(stdout).toMatch(/~ .*update|1 updated/);
  expect(stdout).toContain('~ content: "changed" => "edited by hand"');
  await engine.up('repair drift');
  expect(readFileSync(file, 'utf8')).toBe('changed');
});

test('stack history lists each update with its message', async () => {
  const history = await engine.history();
  const messages = history.map((entry) => entry.message).reverse();
  expect(messages).toEqual(['create the greeting', 'change the greeting', 'find drift', 'repair drift']);
  expect(history.every((entry) => entry.result === 'succeeded')).toBe(true);
});

test('destroy removes the file and the stack', async () => {
  await engine.run(['destroy', '--yes', '--skip-preview', '--message', 'remove the greeting']);
  expect(existsSync(file)).toBe(false);
  await engine.run(['stack', 'rm', '--yes']);
  const { stdout } = await engine.run(['stack', 'ls', '--json'].filter(Boolean), { allowFailure: true });
  expect(stdout).not.toContain('engine-test');
});
