// The preload the operator commands, the language host and the provider launcher give node
// (components/lazyModules.ts): @pulumi/pulumi loads without TypeScript and arborist, and a closure's
// serialization, which needs both, still works and loads them then.
import { execFileSync } from 'child_process';
import { join } from 'path';
import { PROJECT_DIR } from '../../ops/engine';

jest.setTimeout(120_000);

const PRELOAD = join(PROJECT_DIR, 'bin', 'components', 'lazyModules.js');

/** Modules of TypeScript and arborist node has really loaded (not the preload's stand-ins), before and after a serialization. */
function loads(preload: string[]): { beforeSerializing: number; afterSerializing: number; serialized: boolean } {
  const script = `
    const { types } = require('util');
    const loaded = () => Object.entries(require.cache).filter(([path, m]) =>
      /node_modules\\/(typescript|@npmcli\\/arborist)\\//.test(path) && !types.isProxy(m.exports)).length;
    const pulumi = require('@pulumi/pulumi');
    const beforeSerializing = loaded();
    const answer = 42;
    pulumi.runtime.serializeFunction(() => answer).then((s) => console.log(JSON.stringify({
      beforeSerializing, afterSerializing: loaded(), serialized: s.text.includes('42') })));`;
  return JSON.parse(execFileSync('node', [...preload, '-e', script], { cwd: PROJECT_DIR, encoding: 'utf8' })) as ReturnType<typeof loads>;
}

beforeAll(() => {
  execFileSync('bash', [join(PROJECT_DIR, 'scripts', 'build.sh')], { stdio: 'inherit' });
});

test('with the preload, @pulumi/pulumi loads neither; serializing a closure loads both and works', () => {
  const lazy = loads(['--require', PRELOAD]);
  expect(lazy.beforeSerializing).toBe(0);
  expect(lazy.afterSerializing).toBeGreaterThan(0);
  expect(lazy.serialized).toBe(true);
});

test('without it, @pulumi/pulumi loads both at once', () => {
  const eager = loads([]);
  expect(eager.beforeSerializing).toBeGreaterThan(0);
  expect(eager.serialized).toBe(true);
});
