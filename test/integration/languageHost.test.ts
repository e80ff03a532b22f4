// Our language host answers what operators and CI scripts ask besides preview/up: `pulumi about`,
// `pulumi plugin ls` and `pulumi install`, through the real CLI, with no warning.
import { execFile } from 'child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Engine, EngineResult, PROJECT_DIR } from '../../ops/engine';

jest.setTimeout(180_000);

const lock = require('../../package-lock.json') as { packages: Record<string, { version: string }> };
const pkg = require('../../package.json') as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const pin = pkg.dependencies['@pulumi/pulumi']; // the toolchain refuses a CLI at any other version

// A stack of the project itself, on a temporary backend: about reads the current stack.
const engine = new Engine({ projectDir: PROJECT_DIR, stack: 'language-host-test' });
beforeAll(() => engine.init());
afterAll(() => engine.dispose({ destroy: false }));

/** The CLI in `dir` without --stack (install and plugin ls take none). */
function pulumi(dir: string, args: string[]): Promise<EngineResult> {
  return new Promise((resolve) => {
    execFile('pulumi', args, { cwd: dir, env: engine.environment, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

test('pulumi about names node and the direct dependencies as the lock file pins them', async () => {
  const { stdout, stderr } = await engine.run(['about', '--json']);
  expect(stderr).not.toMatch(/warning|not implemented|unimplemented/i);
  const about = JSON.parse(stdout);
  expect(about.runtime).toEqual({ language: 'nodejs', version: process.versions.node, executable: expect.stringMatching(/\/node$/) });
  const direct = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).sort()
    .map((name) => ({ name, version: lock.packages[`node_modules/${name}`].version }));
  expect(about.dependencies).toEqual(direct);
  expect(about.dependencies).toContainEqual({ name: '@pulumi/pulumi', version: pin });
  expect(about.plugins).toContainEqual({ name: 'nodejs', version: pin, kind: 'language' });
});

test('pulumi about --transitive lists every package the lock file installs', async () => {
  const { stdout, stderr } = await engine.run(['about', '--json', '--transitive']);
  expect(stderr).not.toMatch(/warning/i);
  const names = new Set((JSON.parse(stdout).dependencies as { name: string }[]).map((d) => d.name));
  expect(names).toContain('@grpc/grpc-js'); // a dependency of @pulumi/pulumi, not of ours
  const installed = new Set(Object.keys(lock.packages).filter((p) => p !== '').map((p) => p.slice(p.lastIndexOf('node_modules/') + 13)));
  expect(names).toEqual(installed);
});

test('pulumi plugin ls, of the plugin cache and of the project', async () => {
  const all = await pulumi(PROJECT_DIR, ['plugin', 'ls']);
  expect(all.code).toBe(0);
  expect(all.stdout).toContain('TOTAL plugin cache size');
  const project = await pulumi(PROJECT_DIR, ['plugin', 'ls', '--project', '--json']);
  expect(project.code).toBe(0);
  expect(project.stderr).not.toMatch(/warning/i);
  // Found beside the CLI rather than installed in the plugin cache, it has no recorded version here
  // (about asks the language host itself, above).
  expect(JSON.parse(project.stdout)).toContainEqual(expect.objectContaining({ name: 'nodejs', kind: 'language' }));
});

test('pulumi install runs npm install without a lock file, npm ci with one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sounz-install-test-'));
  try {
    writeFileSync(join(dir, 'Pulumi.yaml'), 'name: install-test\nruntime: nodejs\n');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'install-test', dependencies: { zod: pkg.dependencies.zod } }));
    const first = await pulumi(dir, ['install']);
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toContain('npm install');
    expect(first.stderr).not.toMatch(/warning|not implemented/i);
    expect(existsSync(join(dir, 'package-lock.json'))).toBe(true);

    rmSync(join(dir, 'node_modules'), { recursive: true });
    const second = await pulumi(dir, ['install']);
    expect(second).toMatchObject({ code: 0 });
    expect(second.stdout).toContain('npm ci');
    expect(second.stderr).not.toMatch(/warning|not implemented/i);
    expect(existsSync(join(dir, 'node_modules', 'zod', 'package.json'))).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
