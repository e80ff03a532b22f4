// The toolchain script refuses a bad pin with a message that names it, before any long Go build.
import { execFile } from 'child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

jest.setTimeout(120_000);

const repo = join(__dirname, '..', '..');

function runToolchain(root: string, cache: string): Promise<{ code: number; stderr: string }> {
  // PATH without any pulumi, so the script cannot take one that is "already there".
  const path = (process.env.PATH ?? '').split(':').filter((dir) => !dir.includes('sounz-standby')).join(':');
  return new Promise((resolve) => {
    execFile('bash', [join(root, 'scripts', 'toolchain.sh')], { env: { ...process.env, PATH: path, SOUNZ_CACHE: cache } },
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }));
  });
}

function copyOfRepoPinnedTo(version: string): string {
  const root = mkdtempSync(join(tmpdir(), 'sounz-pin-test-'));
  cpSync(join(repo, 'scripts'), join(root, 'scripts'), { recursive: true });
  cpSync(join(repo, 'toolchain'), join(root, 'toolchain'), { recursive: true });
  writeFileSync(join(root, 'toolchain', 'pins.env'), `PULUMI_VERSION=${version}\n`);
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  pkg.dependencies['@pulumi/pulumi'] = version;
  writeFileSync(join(root, 'package.json'), JSON.stringify(pkg));
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  return root;
}

test('a version the Go module proxy does not have fails with the pin named', async () => {
  const root = copyOfRepoPinnedTo('3.999.0');
  const cache = join(root, 'cache');
  mkdirSync(cache);
  try {
    const { code, stderr } = await runToolchain(root, cache);
    expect(code).toBe(1);
    expect(stderr).toContain('toolchain: pin PULUMI_VERSION=3.999.0 (toolchain/pins.env): the Go module proxy has no github.com/pulumi/pulumi/pkg/v3@v3.999.0');
    expect(stderr.split('\n').length).toBeLessThan(10);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a CLI pin that differs from the SDK in package.json is refused', async () => {
  const root = copyOfRepoPinnedTo('3.248.0');
  writeFileSync(join(root, 'toolchain', 'pins.env'), 'PULUMI_VERSION=3.252.0\n');
  try {
    const { code, stderr } = await runToolchain(root, join(root, 'cache'));
    expect(code).toBe(1);
    expect(stderr).toContain('pin PULUMI_VERSION=3.252.0 (toolchain/pins.env) differs from @pulumi/pulumi 3.248.0 in package.json');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
