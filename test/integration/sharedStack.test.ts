// A team's shared stack on PostgreSQL, through the real CLI (`pulumi login postgres://...`, the
// backend built into the pinned 3.248.0): a throwaway cluster on 127.0.0.1 started by the test, two
// working copies of one program (as two operators' clones), the stack's lock between them; then the
// SOUNZ program itself on that backend, switched and read by the operator commands on the sandbox.
import { execFile } from 'child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as sandbox from '../../sandbox';
import { Engine, EngineResult, PROJECT_DIR } from '../../ops/engine';
import type { HistoryRow } from '../../ops/history';
import { sandboxStack } from '../../ops/sandboxStack';
import type { PairStatus } from '../../ops/status';
import { runOps } from '../support/ops';
import { Cluster, startCluster } from '../support/postgres';

jest.setTimeout(300_000);

const STACK = 'team';
const PASSPHRASE = 'the team passphrase, shared out of band';
let cluster: Cluster;
const work = mkdtempSync(join(tmpdir(), 'sounz-shared-'));
const file = join(work, 'greeting.txt');
let a: Engine;
let b: Engine;

/** A working copy of the fixture program, as an operator's clone holds it. */
function workingCopy(name: string): string {
  const dir = join(work, name);
  cpSync(join(__dirname, 'fixtures', 'local-file'), dir, { recursive: true });
  symlinkSync(join(PROJECT_DIR, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

// Keys are the diy backend's paths under the URL's path (the database name).
const lockRows = () => cluster.psql("select key from pulumi_state where key like 'pulumi/.pulumi/locks/%'");

beforeAll(async () => {
  cluster = await startCluster();
  // The password reaches lib/pq as PGPASSWORD, never in the URL: `pulumi login` and `whoami` print the URL as it is.
  process.env.PGPASSWORD = cluster.password;
  a = new Engine({ projectDir: workingCopy('a'), stack: STACK, backendUrl: cluster.url, passphrase: PASSPHRASE });
  b = new Engine({ projectDir: workingCopy('b'), stack: STACK, backendUrl: cluster.url, passphrase: PASSPHRASE });
});
afterAll(async () => {
  await a?.dispose({ destroy: true });
  await cluster?.stop();
  delete process.env.PGPASSWORD;
  rmSync(work, { recursive: true, force: true });
});

test('pulumi login postgres:// logs in to the cluster, the password from PGPASSWORD (a PULUMI_HOME of its own)', async () => {
  const home = join(work, 'pulumi-home');
  const env = { ...a.environment, PULUMI_HOME: home, PULUMI_BACKEND_URL: '' };
  const pulumi = (args: string[]) => new Promise<string>((resolve, reject) =>
    execFile('pulumi', args, { env, cwd: a.projectDir }, (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout))));
  await pulumi(['login', cluster.url]);
  const whoami = await pulumi(['whoami', '--verbose']);
  expect(whoami).toContain(`Backend URL: ${cluster.url}`);
  expect(whoami).not.toContain(cluster.password);
  expect(cluster.psql("select count(*) from pulumi_state where key = 'pulumi/.pulumi/meta.yaml'")).toBe('1');
});

test('stack init, config, up and history from one working copy; the other sees the same stack', async () => {
  await a.init();
  await a.setConfig('path', file);
  await a.setConfig('content', 'from a');
  await a.up('first up, from a');
  expect(readFileSync(file, 'utf8')).toBe('from a');
  // The state is rows of the cluster's table, not files.
  expect(cluster.psql("select count(*) from pulumi_state where key = 'pulumi/.pulumi/stacks/local-file/team.json'")).toBe('1');
  // The second clone holds the same stack file (a team commits Pulumi.team.yaml: the config and the
  // passphrase's salt live in the working copy, not in the backend).
  cpSync(join(a.projectDir, `Pulumi.${STACK}.yaml`), join(b.projectDir, `Pulumi.${STACK}.yaml`));
  expect((await b.history()).map((e) => [e.kind, e.result, e.message])).toEqual([['update', 'succeeded', 'first up, from a']]);
  expect(await b.outputs()).toEqual({ path: file });
});

test('two concurrent ups from two working copies: the second is refused by the lock, the state stays whole', async () => {
  // a replaces the file (a new path), and its create waits 4 s: its lock is held meanwhile.
  await a.setConfig('path', `${file}.2`);
  await a.setConfig('createDelay', '4');
  await b.setConfig('content', 'from b');
  const first = a.up('second up, from a');
  for (let i = 0; lockRows() === ''; i++) {
    if (i > 300) throw new Error('a never took the lock');
    await new Promise((r) => setTimeout(r, 50));
  }
  const second: EngineResult = await b.run(['up', '--yes', '--skip-preview', '--message', 'concurrent up, from b'], { allowFailure: true });
  expect(second.code).not.toBe(0);
  expect(second.stderr + second.stdout).toMatch(/the stack is currently locked by 1 lock\(s\)[^]*created by \S+@\S+ \(pid \d+\)/);
  expect((await first).code).toBe(0);
  expect(lockRows()).toBe('');
  expect(readFileSync(`${file}.2`, 'utf8')).toBe('from a');
  expect(existsSync(file)).toBe(false);
  // Whole: one resource, a's; the refused up recorded nothing.
  const state = JSON.parse(await b.exportState()) as { deployment: { resources: Array<{ type: string; id?: string }> } };
  expect(state.deployment.resources.filter((r) => r.type === 'pulumi-nodejs:dynamic:Resource').map((r) => r.id)).toEqual([`${file}.2`]);
  expect((await b.history()).map((e) => e.message)).toEqual(['second up, from a', 'first up, from a']);
  // Once a is done, b's up goes through on top of a's state (b's copy of the config has a's first path).
  await b.up('third up, from b, after a');
  expect(readFileSync(file, 'utf8')).toBe('from b');
  expect(existsSync(`${file}.2`)).toBe(false);
});

test('two ups started at the same moment: never both run, the lock left free, the state whole', async () => {
  // a's up replaces the file again (its create waits 4 s), b's has nothing to change: their locks overlap.
  const failed = await Promise.all([a.up('race, a'), b.up('race, b')].map((up) => up.then(() => 0, () => 1)));
  // Each checks for other locks after writing its own, so at most one goes on (README: a team's stack).
  expect(failed[0] + failed[1]).toBeGreaterThanOrEqual(1);
  expect(lockRows()).toBe('');
  const history = await a.history();
  expect(history).toHaveLength(3 + 2 - failed[0] - failed[1]);
  expect(history.every((e) => e.result === 'succeeded')).toBe(true);
  expect(JSON.parse(await a.exportState()).deployment.resources).toHaveLength(3); // the stack, the provider, the file
});

test('the SOUNZ program on the shared stack: a switch, replicate-now, status and history by the operator commands', async () => {
  const info = await sandbox.up(undefined, { fresh: true });
  const sounz = await sandboxStack(info, 'team-sounz', { backendUrl: cluster.url });
  try {
    const switched = await runOps(sounz, 'switch', ['normal', '--reason', 'first deployment on the team stack', '--yes']);
    expect([switched.code, switched.stderr]).toEqual([0, '']);
    expect((await runOps(sounz, 'replicateNow', [])).code).toBe(0);
    const status = await runOps(sounz, 'status', ['--json']);
    expect(JSON.parse(status.stdout) as PairStatus).toMatchObject({ serving: 'slayer', procedure: 'NORMAL', attention: [] });
    expect(status.code).toBe(0);
    const rows = JSON.parse((await runOps(sounz, 'history', ['--json'])).stdout) as HistoryRow[];
    expect(rows.map((r) => [r.kind, r.procedure, r.result])).toEqual([['refresh', 'REPLICATE-NOW', 'succeeded'], ['update', 'NORMAL', 'succeeded']]);
    expect(rows[1].who).toMatch(/^\S+@\S+ key SHA256:/);
    expect(cluster.psql("select count(*) from pulumi_state where key = 'pulumi/.pulumi/stacks/sounz-standby/team-sounz.json'")).toBe('1');
  } finally {
    await sounz.dispose({ destroy: false });
    await sandbox.down();
  }
});
