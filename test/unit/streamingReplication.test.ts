// The StreamingReplication provider with the SSH runner injected: what reaches a host, and how (the
// password on stdin only), how it diffs and refuses; the engine-level test is test/integration/continuous.test.ts.
import { createHash, createHmac, pbkdf2Sync } from 'crypto';
import type { CommandResult } from '../../providers/ssh';
import { Call, fakeRunner, HOST_KEY, PRIVATE_KEY } from '../support/fakeRunner';
import { lsnBytes, parseLag, scramVerifier, StreamingReplicationOutputs, streamingReplicationProvider } from '../../providers/streamingReplication';
import { parseSlots, standbySlot } from '../../model/continuous';

const PASSWORD = 'Zq3.vT8_~kL+2/mW=x-9';
const slayer = { host: 'slayer', address: '198.51.100.11', sshPort: 22, user: 'root', hostKey: HOST_KEY };
const megadeth = { host: 'megadeth', address: '198.51.100.12', sshPort: 22, user: 'root', hostKey: HOST_KEY };
const inputs = {
  ...megadeth, privateKey: PRIVATE_KEY, role: 'standby', peer: slayer.address, peerHost: slayer, password: PASSWORD,
  generation: 3, serverData: 2, handover: false, handoverMandatory: false, rebuild: false, keepDataDirectories: 3,
  slot: 'sounz_megadeth', maxSlotWalKeepSize: 1024, version: '15', cluster: 'main', port: 5432,
};

/** A fake host that answers each of the provider's scripts (told apart by a phrase of each) from `answers`. */
const host = (answers: Partial<Record<'state' | 'lag' | 'primary' | 'standby' | 'kept', Partial<CommandResult>>>) => {
  const phrases = { state: 'echo stopped', lag: 'pg_last_xact_replay_timestamp', primary: 'CREATE ROLE', standby: 'IDENTIFY_SYSTEM', kept: 'last-file-sync' };
  return fakeRunner((call) => {
    const script = Object.entries(phrases).find(([, phrase]) => call.argv[2].includes(phrase))?.[0] as keyof typeof answers | undefined;
    return (script && answers[script]) ?? {};
  });
};
/** A call's own arguments, after the cluster's version, name and port and the replication role. */
const argsOf = (call: Call) => call.argv.slice(8);

test('the SCRAM verifier is the one PostgreSQL computes (RFC 5802 with SHA-256)', () => {
  const salt = Buffer.from('0123456789abcdef');
  const salted = pbkdf2Sync(PASSWORD, salt, 4096, 32, 'sha256');
  const stored = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest('base64');
  const server = createHmac('sha256', salted).update('Server Key').digest('base64');
  expect(scramVerifier(PASSWORD, salt)).toBe(`SCRAM-SHA-256$4096:${salt.toString('base64')}$${stored}:${server}`);
});

test('the lag and LSNs as the standby reports them', () => {
  expect(parseLag('0.25|1764625000.5|112|0/3000148|1764625000.75')).toEqual({ seconds: 0.25, bytes: 112,
    lastReplayedTransaction: '2025-12-01T21:36:40.500Z', replayLsn: '0/3000148', observedAt: '2025-12-01T21:36:40.750Z' });
  expect(parseLag('||0||1764625000')).toEqual({ seconds: null, bytes: 0, lastReplayedTransaction: null, replayLsn: null,
    observedAt: '2025-12-01T21:36:40.000Z' });
  expect(lsnBytes('1/0') - lsnBytes('0/FFFFFF00')).toBe(256);
});

test('check refuses a password of the wrong form without quoting it, and a role it does not know', async () => {
  const provider = streamingReplicationProvider(fakeRunner().run);
  const bad = await provider.check!({}, { ...inputs, password: "it's:short" });
  expect(bad.failures).toEqual([expect.objectContaining({ property: 'password', reason: expect.stringContaining('(secret)') })]);
  expect(JSON.stringify(bad.failures)).not.toContain("it's");
  const role = await provider.check!({}, { ...inputs, role: 'leader' });
  expect(role.failures).toEqual([expect.objectContaining({ property: 'role' })]);
});

test('the password reaches the host on stdin only, never in a command line', async () => {
  const { run, calls } = fakeRunner((call) => ({ stdout: call.argv[2].includes('IDENTIFY_SYSTEM') ? 'already streaming' : '' }));
  const provider = streamingReplicationProvider(run);
  const { inputs: checked } = await provider.check!({}, inputs);
  await provider.create!(checked);
  expect(calls.length).toBeGreaterThan(0);
  for (const call of calls) expect(call.argv.join(' ')).not.toContain(PASSWORD);
  expect(calls.filter((call) => call.options?.stdin?.includes(PASSWORD)).map((call) => call.host)).toEqual(['megadeth']);
});

test('another cluster replaces; another role, generation or rebuild is an update; a state from before sounz:postgresql is Debian\'s 15/main', async () => {
  const provider = streamingReplicationProvider(fakeRunner().run);
  const { inputs: olds } = await provider.check!({}, inputs);
  expect(await provider.diff!('id', olds, { ...olds, cluster: 'sounz' })).toMatchObject({ changes: true, replaces: ['cluster'] });
  expect(await provider.diff!('id', olds, { ...olds, version: '16' })).toMatchObject({ changes: true, replaces: ['version'] });
  const { version: _v, cluster: _c, ...before } = olds;
  const older = { ...before, dataDir: '/var/lib/postgresql/15/main', binDir: '/usr/lib/postgresql/15/bin' } as unknown as StreamingReplicationOutputs;
  expect(await provider.diff!('id', older, olds)).toMatchObject({ changes: false, replaces: [] });
  expect(await provider.diff!('id', olds, { ...olds, role: 'primary', generation: 4 })).toMatchObject({ changes: true, replaces: [] });
  expect(await provider.diff!('id', olds, olds)).toMatchObject({ changes: false });
  // Only a rebuild applies the number of kept data directories.
  expect(await provider.diff!('id', olds, { ...olds, keepDataDirectories: 1 })).toMatchObject({ changes: false });
});

describe('a promotion (EMERGENCY: the server is dead, its WAL position unknown)', () => {
  const observed = { seconds: 0.2, bytes: 4096, lastReplayedTransaction: '2025-12-01T21:30:00.000Z', replayLsn: '0/3000100',
    observedAt: '2025-12-01T21:30:00.200Z' };
  const promoted = host({ state: { stdout: 'standby, not streaming' }, lag: { stdout: '2.5|1764625000.5||0/3000148|1764625003' },
    primary: { stdout: 'promoted' }, kept: { stdout: 'synced never' } });
  const atPromotion = { seconds: 2.5, bytes: null, lastReplayedTransaction: '2025-12-01T21:36:40.500Z', replayLsn: '0/3000148',
    observedAt: '2025-12-01T21:36:43.000Z' };

  test('reports what it had replayed then, beside the lag last observed while it was the standby (bytes included)', async () => {
    const provider = streamingReplicationProvider(promoted.run);
    const { inputs: standby } = await provider.check!({}, inputs);
    const { inputs: primary } = await provider.check!({}, { ...inputs, role: 'primary', generation: 4 });
    const olds: StreamingReplicationOutputs = { ...standby, state: 'streaming from 198.51.100.11',
      lag: observed, promotion: null, kept: [], outcome: 'already streaming', lastFileSync: 'never' };
    const { outs } = await provider.update!('id', olds, primary);
    expect(outs.promotion).toEqual({ atPromotion, lastObservedLag: observed });
    expect(outs.lag).toEqual(atPromotion);
  });

  test('without an earlier measurement as the standby, the last observed lag is null, not guessed', async () => {
    const provider = streamingReplicationProvider(promoted.run);
    const { inputs: primary } = await provider.check!({}, { ...inputs, role: 'primary' });
    expect((await provider.create!(primary)).outs.promotion).toEqual({ atPromotion, lastObservedLag: null });
  });
});

describe('the kept data directories after a rebuild (sounz:replication.keepDataDirectories)', () => {
  const dir = (stamp: string, g: number) => `/var/lib/postgresql/15/main.kept-${stamp}-g${g}`;
  const kept = [dir('20250101-020000', 1), dir('20250102-020000', 2), dir('20250103-020000', 3), dir('20250104-020000', 4)];
  const prunes = (calls: Call[]) => calls.filter((call) => call.argv[2].includes('keepDataDirectories'));
  const listed = { stdout: `${kept.join('\n')}\nsynced never` };

  test('a base backup that streams deletes the oldest beyond the number, never the one it just kept', async () => {
    const { run, calls } = host({ standby: { stdout: `rebuilt from 198.51.100.11; kept: ${kept[3]}\njust kept: ${kept[3]}` }, kept: listed });
    const provider = streamingReplicationProvider(run);
    const { inputs: checked } = await provider.check!({}, { ...inputs, rebuild: true, keepDataDirectories: 2 });
    const { outs } = await provider.create!(checked);
    expect(prunes(calls).map(argsOf)).toEqual([[kept[0], kept[1]]]);
    expect(outs.outcome).toBe(`rebuilt from 198.51.100.11; kept: ${kept[3]}`);
  });

  test('nothing is deleted when the rebuild fails, nor when the standby follows with its own data', async () => {
    const failed = host({ standby: { code: 1, stderr: 'pg_basebackup from 198.51.100.11 failed' }, kept: listed });
    const provider = streamingReplicationProvider(failed.run);
    const { inputs: checked } = await provider.check!({}, { ...inputs, rebuild: true, keepDataDirectories: 1 });
    await expect(provider.create!(checked)).rejects.toThrow('pg_basebackup');
    expect(prunes(failed.calls)).toEqual([]);
    const follows = host({ standby: { stdout: 'follows 198.51.100.11' }, kept: listed });
    await streamingReplicationProvider(follows.run).create!(checked);
    expect(prunes(follows.calls)).toEqual([]);
  });
});

test('a planned handover whose promotion fails after the old server stopped starts the old server\'s PostgreSQL again', async () => {
  const { run, calls } = fakeRunner((call) => {
    const text = call.argv[2];
    if (text.includes('echo stopped')) return { stdout: 'streaming from 198.51.100.11' };
    if (text.includes('pg_controldata')) return { stdout: '0/3000148' };
    if (text.includes('pg_last_wal_replay_lsn()')) return { stdout: '0/3000200' };
    if (text.includes('CREATE ROLE')) return { code: 1, stderr: 'pg_promote did not finish within 60 s' };
    return {};
  });
  const provider = streamingReplicationProvider(run);
  const { inputs: primary } = await provider.check!({}, { ...inputs, role: 'primary', handover: true, handoverMandatory: true });
  await expect(provider.create!(primary)).rejects.toThrow(
    "the promotion of megadeth after the handover failed: megadeth: failed: pg_promote did not finish within 60 s. slayer's PostgreSQL runs again");
  const restart = calls.at(-1)!;
  expect(restart.host).toBe('slayer');
  expect(restart.argv[2].trimEnd().endsWith('\nstart')).toBe(true);
});

test('a planned handover pulls the data areas and index from the old server before the promotion; if that fails, the old server starts again', async () => {
  const hostRunner = (pullFails: boolean) => fakeRunner((call) => {
    const text = call.argv[2] ?? '';
    if (call.argv.includes('pull-files')) return pullFails ? { code: 1, stderr: 'rsync: connection refused' } : {};
    if (text.includes('echo stopped')) return { stdout: 'streaming from 198.51.100.11' };
    if (text.includes('pg_controldata')) return { stdout: '0/3000148' };
    if (text.includes('pg_last_wal_replay_lsn()')) return { stdout: '0/3000200' };
    if (text.includes('CREATE ROLE')) return { stdout: 'promoted' };
    return {};
  });
  const planned = { ...inputs, role: 'primary', handover: true, handoverMandatory: true };
  const ok = hostRunner(false);
  const { inputs: primary } = await streamingReplicationProvider(ok.run).check!({}, planned);
  const { outs } = await streamingReplicationProvider(ok.run).create!(primary);
  const pull = ok.calls.findIndex((c) => c.argv.includes('pull-files'));
  expect(ok.calls[pull]).toMatchObject({ host: 'megadeth',
    argv: ['timeout', '600', '/usr/share/sounz/scripts/dr/sounz-replicate', '--wait', '--switch', 'pull-files', '198.51.100.11'] });
  expect(pull).toBeLessThan(ok.calls.findIndex((c) => (c.argv[2] ?? '').includes('CREATE ROLE')));
  expect(outs.outcome).toContain('data areas and index pulled');

  const failing = hostRunner(true);
  await expect(streamingReplicationProvider(failing.run).create!(primary)).rejects.toThrow(
    /failed before the promotion: megadeth: failed: rsync: connection refused\. slayer's PostgreSQL runs again/);
  expect(failing.calls.at(-1)?.host).toBe('slayer');
});

test('the standby slot: named for the standby, as PostgreSQL allows; the server\'s lines parsed', () => {
  expect(standbySlot('megadeth')).toBe('sounz_megadeth');
  expect(standbySlot('DB-2.example.net')).toBe('sounz_db_2_example_net');
  expect(standbySlot('x'.repeat(80))).toHaveLength(63);
  expect(parseSlots('sounz_megadeth true reserved 1048576,sounz_slayer false lost ?')).toEqual([
    { name: 'sounz_megadeth', active: true, walStatus: 'reserved', retainedBytes: 1048576 },
    { name: 'sounz_slayer', active: false, walStatus: 'lost', retainedBytes: null }]);
  expect(parseSlots('')).toEqual([]);
});

test('the server makes its standby\'s slot with its bound; the standby streams through it; the slot is in the outputs', async () => {
  const serverRun = fakeRunner((call) => ({ stdout: call.argv[2].includes("slot_name || ' ' || active") ? 'sounz_slayer true reserved 4096' : '' }));
  const provider = streamingReplicationProvider(serverRun.run);
  const { inputs: primary } = await provider.check!({}, { ...inputs, role: 'primary', slot: 'sounz_slayer', maxSlotWalKeepSize: 2048 });
  const { outs } = await provider.create!(primary);
  const made = serverRun.calls.find((call) => call.argv[2].includes('pg_create_physical_replication_slot'))!;
  expect(argsOf(made)).toEqual(['sounz_slayer', '2048']);
  expect(outs.slotState).toEqual({ name: 'sounz_slayer', active: true, walStatus: 'reserved', retainedBytes: 4096 });

  const standby = host({ standby: { stdout: 'already streaming' } });
  const { inputs: checked } = await streamingReplicationProvider(standby.run).check!({}, inputs);
  await streamingReplicationProvider(standby.run).create!(checked);
  expect(argsOf(standby.calls.find((call) => call.argv[2].includes('IDENTIFY_SYSTEM'))!).at(-1)).toBe('sounz_megadeth');
  // Its slot is asked of the server.
  expect(standby.calls.find((call) => call.argv[2].includes("slot_name || ' ' || active"))?.host).toBe('slayer');
  // A slot name PostgreSQL would refuse never reaches a host.
  expect((await provider.check!({}, { ...inputs, slot: "x'; DROP" })).failures).toEqual([expect.objectContaining({ property: 'slot' })]);
});
