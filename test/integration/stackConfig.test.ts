// The operator commands read the stack's config in their own process (ops/stackConfig.ts) when its
// secrets are the passphrase's: what they read must be what `pulumi config --json --show-secrets` prints,
// and whatever that reader does not know goes to the CLI.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Engine, PROJECT_DIR } from '../../ops/engine';
import { ConfigError } from '../../model/config';
import { configFromEntries, confirmedRefusal } from '../../ops/program';
import { configByCli, configEntries, ConfigEntries, configInProcess, readInProcess, readYaml } from '../../ops/stackConfig';
import { BASE } from '../support/stackConfig';
import { NORMAL } from '../../model/pairs';

jest.setTimeout(120_000);

const projectDir = mkdtempSync(join(tmpdir(), 'sounz-config-project-'));
const writeProject = (extra = '') => writeFileSync(join(projectDir, 'Pulumi.yaml'), `name: config-read\nruntime: nodejs\n${extra}`);
writeProject();
const engine = new Engine({ projectDir, stack: 'config-read' });
const cli = async (of: Engine) => JSON.parse((await of.run(['config', '--json', '--show-secrets'])).stdout) as unknown;

beforeAll(async () => {
  await engine.init();
  await engine.setConfig('sounz:sshPrivateKey', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n', { secret: true });
  await engine.setConfig('sounz:serviceIp', '198.51.100.100');
  await engine.setConfig('sounz:servicePrefixLength', '24');
  await engine.setConfig('sounz:primary.name', 'slayer', { path: true });
  await engine.setConfig('sounz:primary.sshPort', '2222', { path: true });
  await engine.setConfig('sounz:replication.dataDirs[0]', '/data/sounz', { path: true });
  await engine.setConfig('sounz:replication.dataDirs[1]', '/usr/share/sounz', { path: true });
  await engine.setConfig('sounz:replication.password', 'pässword: "quoted"', { path: true, secret: true });
  await engine.setConfig('other:flag', 'true');
});
afterAll(async () => {
  await engine.dispose({ destroy: false });
  rmSync(projectDir, { recursive: true, force: true });
});

test('a passphrase stack: the same entries as the CLI prints, secrets and nested secrets decrypted', async () => {
  const mine = await configInProcess(engine);
  expect(mine).toEqual(await cli(engine));
  // Values the CLI prints as JSON text (objects) are compared as text above; these pin what the program parses.
  expect(JSON.parse(mine['sounz:replication'].value!)).toEqual({ dataDirs: ['/data/sounz', '/usr/share/sounz'], password: 'pässword: "quoted"' });
  expect(mine['sounz:replication'].secret).toBe(true);
  expect(mine['sounz:primary']).toMatchObject({ value: '{"name":"slayer","sshPort":2222}', secret: false });
  expect(mine['sounz:servicePrefixLength']).toEqual({ value: '24', secret: false });
});

test('a hand-written stack file (the real deployment\'s Pulumi.primary.yaml: unquoted numbers, lists, a cron line) reads as the CLI reads it', async () => {
  copyFileSync(join(PROJECT_DIR, 'Pulumi.primary.yaml'), join(projectDir, 'Pulumi.hand-written.yaml'));
  const handWritten = new Engine({ projectDir, stack: 'hand-written', backendDir: engine.backendDir, passphrase: engine.environment.PULUMI_CONFIG_PASSPHRASE });
  await handWritten.init();
  try {
    const mine = await configInProcess(handWritten);
    expect(mine).toEqual(await cli(handWritten));
    expect(mine['sounz:servicePrefixLength'].value).toBe('24');
  } finally {
    await handWritten.run(['stack', 'rm', '--yes', '--force'], { allowFailure: true });
  }
});

test('the passphrase from PULUMI_CONFIG_PASSPHRASE_FILE, relative to the project as for the CLI, spaces trimmed', async () => {
  writeFileSync(join(projectDir, 'passphrase.txt'), `  ${engine.environment.PULUMI_CONFIG_PASSPHRASE}\n`);
  const environment = { PULUMI_CONFIG_PASSPHRASE_FILE: 'passphrase.txt', PULUMI_BACKEND_URL: engine.environment.PULUMI_BACKEND_URL };
  expect(await configInProcess({ projectDir, stack: engine.stack, environment })).toEqual(await cli(engine));
  // Go's TrimSpace keeps a byte-order mark, JS's trim drops it: the CLI's business.
  writeFileSync(join(projectDir, 'passphrase.txt'), `\ufeff${engine.environment.PULUMI_CONFIG_PASSPHRASE}\n`);
  await expect(configInProcess({ projectDir, stack: engine.stack, environment })).rejects.toThrow('a passphrase file that Go trims otherwise');
});

test('a wrong passphrase goes to the CLI, which refuses in its own words', async () => {
  const wrong = new Engine({ projectDir, stack: 'config-read', backendDir: engine.backendDir, passphrase: 'not the passphrase' });
  await expect(configInProcess(wrong)).rejects.toThrow('the passphrase does not open the salt');
  await expect(configEntries(wrong)).rejects.toThrow(/incorrect passphrase/);
});

test('project-level config, which the CLI merges, goes to the CLI', async () => {
  writeProject('config:\n  sounz:serviceLabel:\n    value: eth0:1\n');
  try {
    await expect(configInProcess(engine)).rejects.toThrow('Pulumi.yaml has config of its own');
    const read = await configEntries(engine);
    expect(read['sounz:serviceLabel']).toEqual({ value: 'eth0:1', secret: false });
    expect(read).toEqual(await cli(engine));
  } finally {
    writeProject();
  }
});

test('without a folder backend (Pulumi Cloud may keep the config itself) or without the stack in it, the CLI reads it', async () => {
  const { PULUMI_BACKEND_URL: _url, ...environment } = engine.environment;
  await expect(configInProcess({ projectDir, stack: engine.stack, environment })).rejects.toThrow('not a stack of a folder backend');
  copyFileSync(join(projectDir, `Pulumi.${engine.stack}.yaml`), join(projectDir, 'Pulumi.never-made.yaml'));
  try {
    await expect(configInProcess({ projectDir, stack: 'never-made', environment: engine.environment })).rejects.toThrow('no such stack in the backend');
  } finally {
    rmSync(join(projectDir, 'Pulumi.never-made.yaml'));
  }
});

/** A stack `odd-yaml` whose file holds this config line (text or bytes), written after the init, which rewrites the file in the CLI's own form. */
async function withStackLine(line: string | Buffer, check: (odd: Engine) => Promise<void>): Promise<void> {
  const odd = new Engine({ projectDir, stack: 'odd-yaml', backendDir: engine.backendDir, passphrase: engine.environment.PULUMI_CONFIG_PASSPHRASE });
  await odd.init();
  try {
    const { encryptionsalt } = (await readYaml(projectDir, 'Pulumi.odd-yaml.yaml'))!;
    const head = `encryptionsalt: ${String(encryptionsalt)}\nconfig:\n  sounz:serviceIp: 198.51.100.100\n  `;
    writeFileSync(join(projectDir, 'Pulumi.odd-yaml.yaml'), Buffer.concat([Buffer.from(head), Buffer.from(line), Buffer.from('\n')]));
    await check(odd);
  } finally {
    await odd.run(['stack', 'rm', '--yes', '--force'], { allowFailure: true });
  }
}

/** The program's refusal of these entries (its words), or undefined: no preflight, so no host is reached. */
function refusalOf(entries: ConfigEntries): string | undefined {
  try {
    configFromEntries(entries);
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
}

/** A read's outcome, its value or that it failed: the CLI refuses some of these files. */
const outcome = (read: Promise<unknown>) => read.then((value) => ({ value }), () => ({ failed: true }));

// YAML that js-yaml's core schema and the CLI's Go parser read (or print) differently, each found by
// comparing the two reads: each goes to the CLI, whose read (or refusal) wins.
const number = 'the stack file has a number the CLI parses otherwise';
test.each<[string, string | Buffer, string]>([
  ['a date', 'sounz:since: 2024-01-15', 'the stack file has a date'],
  ['a date as a key', 'sounz:a: {2024-01-15: x}', 'the stack file has a date'],
  ['a merge key', 'sounz:base: &base {user: root}\n  sounz:extended:\n    <<: *base\n    port: 22', 'the stack file has a merge key'],
  ['a quoted merge key', 'sounz:a: {"<<": {b: 1}, c: 2}', 'the stack file has a merge key'],
  ['an octal-looking number', 'sounz:mode: 0755', number],
  ['a number right after a colon', 'sounz:a: {"b":0755}', number],
  ['an upper-case hex number', 'sounz:a: 0X1F', number],
  ['an underscore in a float', 'sounz:a: [1.5_0]', number],
  ['an infinity', 'sounz:a: [.inf]', number],
  ['an empty value', 'sounz:empty:', 'the CLI reads sounz:empty otherwise'],
  ['a key without a namespace', 'bare: 1', 'the CLI reads bare otherwise'],
  ['an integer beyond a double', 'sounz:big: 9007199254740993', 'the CLI reads sounz:big otherwise'],
  ['minus zero', 'sounz:a: -0.0', 'the CLI reads sounz:a otherwise'],
  ['a null key', 'sounz:a: {~: x}', 'the CLI reads sounz:a otherwise'],
  ['numeric keys (JS orders them first)', 'sounz:a: {10: x, 9: y}', 'the CLI reads sounz:a otherwise'],
  ['a complex key', 'sounz:a: {? [1, 2] : x}', 'the stack file has a complex key'],
  ['a \\/ escape', 'sounz:a: "x\\/y"', 'the stack file has a \\/ escape'],
  ['a line separator', 'sounz:a: x\u2028y', 'the stack file has a line separator or byte-order mark'],
  ['a string starting with a line end (lost when the CLI writes the file back)', 'sounz:a: "\\nfoo"', 'the CLI reads sounz:a otherwise'],
  ['a control character, even in a comment', 'sounz:a: xy # \x1b', 'the stack file has a control character'],
  ['a surrogate pair as escapes', 'sounz:a: "x\\uD83D\\uDE00y"', 'the stack file has a surrogate escape'],
  ['a surrogate pair as long escapes', 'sounz:a: "x\\U0000D83D\\U0000DE00y"', 'the stack file has a surrogate escape'],
  ['a key the stack file does not have', 'sounz:a: 1\nextra: 1', 'the stack file has extra'],
  ['a sealed value Go would not read', 'sounz:a: {secure: "v1:abc:def"}', 'not a sealed value Go would read'],
  ['a byte that is not UTF-8', Buffer.from([...Buffer.from('sounz:a: x'), 0xf0, 0x9f, 0x98, 0x62]), 'The encoded data was not valid'],
])('%s goes to the CLI', async (_case, line, reason) => withStackLine(line, async (odd) => {
  await expect(configInProcess(odd)).rejects.toThrow(reason);
  expect(await outcome(configEntries(odd))).toEqual(await outcome(cli(odd)));
}));

test('top-level scalars print as the CLI prints them (it reads them as YAML values, not as their text)', () =>
  withStackLine('sounz:a: 1.0\n  sounz:b: True\n  sounz:c: +24\n  sounz:d: 1e3\n  sounz:e: 0.50', async (odd) => {
    const mine = await configInProcess(odd);
    expect(['a', 'b', 'c', 'd', 'e'].map((key) => mine[`sounz:${key}`].value)).toEqual(['1', 'true', '24', '1000', '0.5']);
    expect(mine).toEqual(await cli(odd));
  }));

test('strings in objects print as Go\'s JSON prints them (<, >, & and U+2028 escaped)', () =>
  withStackLine('sounz:a: {b: "<a&b> \\b\\f \\\\b \\u2028", c: [x, "\\u00e9"]}', async (odd) => {
    const mine = await configInProcess(odd);
    expect(mine['sounz:a'].value).toBe('{"b":"\\u003ca\\u0026b\\u003e \\b\\f \\\\b \\u2028","c":["x","é"]}');
    expect(mine).toEqual(await cli(odd));
  }));

test('a refusal of the config read here is confirmed by the CLI\'s read: the same refusal in its words, else the reader\'s fault said', async () => {
  const checked = new Engine({ projectDir, stack: 'refusal-check', backendDir: engine.backendDir, passphrase: engine.environment.PULUMI_CONFIG_PASSPHRASE });
  await checked.init();
  try {
    const host = (role: string, { name, address, hostKey }: typeof BASE.primary) =>
      ['--plaintext', `sounz:${role}.name=${name}`, '--plaintext', `sounz:${role}.address=${address}`, '--plaintext', `sounz:${role}.hostKey=${hostKey}`];
    await checked.run(['config', 'set-all', '--path', ...host('primary', BASE.primary), ...host('secondary', BASE.secondary),
      '--plaintext', 'sounz:serviceIp=not an address']);
    await checked.setConfig('sounz:sshPrivateKey', BASE.sshPrivateKey, { secret: true });
    await checked.setStatuses(NORMAL);
    const refusedHere = await configEntries(checked);
    expect(readInProcess(refusedHere)).toBe(true);
    const refusal = refusalOf(refusedHere);
    expect(refusal).toContain('serviceIp');
    // The CLI's read refuses it too: its words, which are the same.
    expect(await confirmedRefusal(checked, refusedHere, refusal!)).toBe(refusal);
    // The file changes (as a reader's fault would make it look): the refusal is not given as the program's.
    await checked.run(['config', 'set', 'sounz:serviceIp', '192.0.2.46']);
    expect(refusalOf(await configByCli(checked))).toBeUndefined();
    expect(await confirmedRefusal(checked, refusedHere, refusal!)).toMatch(
      /^Refused by this command's own read of the stack's config, which the CLI reads otherwise .*\nNothing was changed\. Instead: run the same command again with SOUNZ_CONFIG_BY_CLI=1/s);
    // The CLI's read fails (here: a stack file it cannot parse): the refusal stands, with that failure said.
    writeFileSync(join(projectDir, 'Pulumi.refusal-check.yaml'), 'config: [');
    expect(await confirmedRefusal(checked, refusedHere, refusal!)).toMatch(/^.*serviceIp.*\n\(The CLI's read of the config, to confirm this refusal, failed: /s);
  } finally {
    await checked.run(['stack', 'rm', '--yes', '--force'], { allowFailure: true });
  }
});
