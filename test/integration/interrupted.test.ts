// An `up` whose CLI is killed (SIGKILL: nothing of the engine's orderly shutdown runs) while a
// dynamic provider is in the middle of a create: within a few seconds no process of that run is
// left, neither the language host and the program it runs nor the provider plugin the engine started.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Engine } from '../../ops/engine';
import { expectRunEnded, recordRun } from './processes';

jest.setTimeout(120_000);

const work = mkdtempSync(join(tmpdir(), 'sounz-interrupted-test-'));
const file = join(work, 'greeting.txt');
const engine = new Engine({ projectDir: join(__dirname, 'fixtures', 'local-file'), stack: 'interrupted-test' });

beforeAll(async () => {
  await engine.init();
  await engine.setConfig('path', file);
  await engine.setConfig('content', 'hello');
  await engine.setConfig('createDelay', '600');
});
afterAll(async () => {
  await engine.run(['cancel', '--yes'], { allowFailure: true }); // the killed up's lock
  await engine.dispose({ destroy: false });
  rmSync(work, { recursive: true, force: true });
});

async function until(condition: () => boolean, withinMs: number): Promise<void> {
  for (const start = Date.now(); !condition(); await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (Date.now() - start > withinMs) throw new Error(`not within ${withinMs} ms`);
  }
}

test('an up killed mid-create leaves no process of its run behind', async () => {
  const kill = new AbortController();
  let cli = 0;
  const up = engine.up('killed half-way', { signal: kill.signal, onSpawn: (pid) => { cli = pid; } })
    .catch(() => undefined);
  const creating = `${file}.creating`;
  await until(() => existsSync(creating) && readFileSync(creating, 'utf8') !== '', 60_000);

  const run = recordRun(cli);
  const commands = run.processes.map((p) => p.command);
  // What would be orphaned: the language host, the program, the provider launcher and its server.
  expect(commands.filter((c) => /pulumi-language-nodejs/.test(c))).toHaveLength(1);
  expect(commands.filter((c) => /node .*@pulumi\/pulumi\/cmd\/run\b/.test(c))).toHaveLength(1);
  expect(commands.filter((c) => /pulumi-resource-pulumi-nodejs/.test(c))).toHaveLength(1);
  const provider = Number(readFileSync(creating, 'utf8'));
  expect(run.processes.find((p) => p.pid === provider)?.command).toMatch(/cmd\/dynamic-provider/);

  kill.abort(); // SIGKILL to the CLI
  const ms = await expectRunEnded(run, 5_000);
  console.log(`interrupted up: last of ${run.processes.length} processes ended ${ms} ms after the CLI was killed`);
  await up;
  expect(existsSync(file)).toBe(false); // the create never finished
});
