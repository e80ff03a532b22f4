// The dynamic-provider server an operator command starts before the engine asks for one
// (ops/warmProvider.ts): the engine's creates run in it, a run without it still gets a server of its
// own, and it ends with its run, also when the CLI is killed in the middle of a create.
import { execFileSync } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { dirname, join } from 'path';
import { Engine } from '../../ops/engine';
import { PORT_FILE_ENV, startWarmProvider, WarmProvider } from '../../ops/warmProvider';
import { expectRunEnded, recordRun } from './processes';

jest.setTimeout(120_000);

const PROJECT = join(__dirname, 'fixtures', 'local-file');
const work = mkdtempSync(join(tmpdir(), 'sounz-warm-provider-test-'));
const engines: Engine[] = [];

/** A stack of the local-file fixture whose create waits `delay` seconds after writing `<file>.creating`. */
async function stack(name: string, delay: number): Promise<{ engine: Engine; file: string }> {
  const engine = new Engine({ projectDir: PROJECT, stack: `warm-${name}` });
  engines.push(engine);
  const file = join(work, `${name}.txt`);
  await engine.init();
  await engine.setConfig('path', file);
  await engine.setConfig('content', 'hello');
  await engine.setConfig('createDelay', String(delay));
  return { engine, file };
}

async function until(condition: () => boolean, withinMs: number): Promise<void> {
  for (const start = Date.now(); !condition(); await new Promise((resolve) => setTimeout(resolve, 25))) {
    if (Date.now() - start > withinMs) throw new Error(`not within ${withinMs} ms`);
  }
}

/** The parent of a process, from /proc. */
const parentOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};

afterAll(async () => {
  for (const engine of engines) {
    await engine.run(['cancel', '--yes'], { allowFailure: true }); // the killed up's lock
    await engine.dispose({ destroy: false });
  }
  rmSync(work, { recursive: true, force: true });
});

test('the engine\'s create runs in the warm server, which ends with the run', async () => {
  const { engine, file } = await stack('taken', 1);
  const provider = startWarmProvider(PROJECT);
  const launcher = recordRun(provider.pid!);
  const up = engine.up('warm', { provider });
  await until(() => existsSync(`${file}.creating`) && readFileSync(`${file}.creating`, 'utf8') !== '', 60_000);
  const server = Number(readFileSync(`${file}.creating`, 'utf8'));
  // The node that creates is the warm launcher's child, not one the engine's launcher started.
  expect(parentOf(server)).toBe(provider.pid);
  await up;
  expect(readFileSync(file, 'utf8')).toBe('hello');
  await expectRunEnded(launcher, 2_000);
  expect(existsSync(dirname(provider.env[PORT_FILE_ENV]))).toBe(false);
});

test('a command that ends without a run (a refused config) leaves neither the server nor its port file', async () => {
  const started = JSON.parse(execFileSync('node', ['-r', 'ts-node/register/transpile-only', '-e',
    `const p = require('./ops/warmProvider').startWarmProvider(${JSON.stringify(PROJECT)});
     console.log(JSON.stringify({ pid: p.pid, portFile: p.env.${PORT_FILE_ENV} }));`],
  { cwd: join(__dirname, '..', '..'), encoding: 'utf8' })) as { pid: number; portFile: string };
  expect(existsSync(dirname(started.portFile))).toBe(false);
  await until(() => !existsSync(`/proc/${started.pid}`), 2_000);
});

test('a warm server that never came: the engine\'s launcher starts a server of its own', async () => {
  const { engine, file } = await stack('failed', 1);
  const portFile = join(work, 'port');
  writeFileSync(portFile, 'failed');
  const provider: WarmProvider = { env: { [PORT_FILE_ENV]: portFile }, pid: undefined, stop: () => undefined };
  let cli = 0;
  const up = engine.up('no warm server', { provider, onSpawn: (pid) => { cli = pid; } });
  await until(() => existsSync(`${file}.creating`) && readFileSync(`${file}.creating`, 'utf8') !== '', 60_000);
  const server = Number(readFileSync(`${file}.creating`, 'utf8'));
  expect(recordRun(cli).processes.find((p) => p.pid === server)?.command).toMatch(/cmd\/dynamic-provider/);
  await up;
  expect(readFileSync(file, 'utf8')).toBe('hello');
});

test('an up killed mid-create in the warm server leaves neither the server nor the file', async () => {
  const { engine, file } = await stack('killed', 600);
  const provider = startWarmProvider(PROJECT);
  const kill = new AbortController();
  let cli = 0;
  const up = engine.up('killed half-way', { provider, signal: kill.signal, onSpawn: (pid) => { cli = pid; } }).catch(() => undefined);
  await until(() => existsSync(`${file}.creating`) && readFileSync(`${file}.creating`, 'utf8') !== '', 60_000);
  const run = recordRun(cli);
  const launcher = recordRun(provider.pid!);
  expect(launcher.processes.map((p) => p.pid)).toContain(Number(readFileSync(`${file}.creating`, 'utf8')));

  kill.abort(); // SIGKILL to the CLI
  await up;
  await expectRunEnded(launcher, 2_000);
  await expectRunEnded(run, 5_000);
  expect(existsSync(file)).toBe(false); // the create never finished
});
