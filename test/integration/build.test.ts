// The build in bin/ (scripts/build.sh) and the program's check that it is not older than its sources
// (providers/project.ts staleSources): a host script edited since the build counts as a .ts does, since
// the providers' code kept in bin/ carries the scripts word for word (providers/contract.ts). Run on a
// copy of the project in a folder of its own: a rebuild here would take bin/ from the suites beside.
import { execFileSync } from 'child_process';
import { cpSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { PROJECT_DIR } from '../../ops/engine';

jest.setTimeout(300_000);

let copy: string;
const build = () => execFileSync('bash', [join(copy, 'scripts', 'build.sh')], { encoding: 'utf8' });
const stamp = () => statSync(join(copy, 'bin', '.built')).mtimeMs;
/** What the built program would refuse for, as index.ts asks it. */
const stale = () => JSON.parse(execFileSync('node', ['-e',
  "console.log(JSON.stringify(require('./bin/providers/project.js').staleSources()))"], { cwd: copy, encoding: 'utf8' })) as string[];

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'sounz-build-'));
  for (const entry of ['Pulumi.yaml', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'index.ts',
    'model', 'providers', 'components', 'ops', 'scripts']) {
    cpSync(join(PROJECT_DIR, entry), join(copy, entry), { recursive: true, preserveTimestamps: true });
  }
  symlinkSync(join(PROJECT_DIR, 'node_modules'), join(copy, 'node_modules'));
  build();
});
afterAll(() => rmSync(copy, { recursive: true, force: true }));

test('a host script edited since the build: the program names it, and build.sh builds again', () => {
  expect(stale()).toEqual([]);
  const built = stamp();
  // Edited a second after the build started.
  const edited = new Date(built + 1000);
  utimesSync(join(copy, 'providers', 'scripts', 'claim.sh'), edited, edited);
  expect(stale()).toEqual([join('providers', 'scripts', 'claim.sh')]);
  build();
  expect(stamp()).toBeGreaterThan(built);
  expect(stale()).toEqual([]);
});
