// The stack's config as `pulumi config --json --show-secrets` prints it, read in this process for a
// folder backend's stack whose secrets are the passphrase's (that backend's default), else by that CLI run. The
// CLI's run costs a Go start and its own key derivation in a switch's first, CPU-bound second on 2
// cores; here the derivation runs on libuv's pool while the command starts the rest. Anything this
// reader does not know (a backend that may keep config itself, another secrets provider, an ESC
// environment, project-level config, YAML that Go's parser reads otherwise, a wrong passphrase) goes to
// the CLI, which then says it in its own words.
import { createDecipheriv, createHash, pbkdf2 } from 'crypto';
import { access, readFile } from 'fs/promises';
import { join, resolve } from 'path';
import { promisify } from 'util';
import { CORE_SCHEMA, load } from 'js-yaml';
import { markEngineLog, type Engine } from './engine';

/** The stack's config as `pulumi config --json --show-secrets` prints it. */
export type ConfigEntries = Record<string, { value?: string; secret: boolean; objectValue?: unknown }>;

/**
 * The config, read here when this reader knows the stack's files, else (or with SOUNZ_CONFIG_BY_CLI=1,
 * the way round a fault of this reader) by the CLI.
 */
export async function configEntries(engine: Engine): Promise<ConfigEntries> {
  const mine = process.env.SOUNZ_CONFIG_BY_CLI === '1' ? undefined
    : await configInProcess(engine).catch((error: Error) => void markEngineLog(`config left to the CLI: ${error.message}`));
  if (mine) readHere.add(mine);
  return mine ?? configByCli(engine);
}

export async function configByCli(engine: Engine): Promise<ConfigEntries> {
  return JSON.parse((await engine.run(['config', '--json', '--show-secrets'])).stdout) as ConfigEntries;
}

const readHere = new WeakSet<ConfigEntries>();

/** Whether configEntries read these in this process (not by the CLI). */
export const readInProcess = (entries: ConfigEntries) => readHere.has(entries);

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };

/** A YAML file of the project (Pulumi.yaml, a stack file) as the CLI's YAML 1.2 parser sees it. */
export async function readYaml(folder: string, file: string): Promise<Record<string, Yaml> | undefined> {
  return parseYaml(await readText(join(folder, file)));
}

const parseYaml = (text: string) => load(text, { schema: CORE_SCHEMA }) as Record<string, Yaml> | undefined;

/** Text Go would read byte for byte: bytes that are not UTF-8 throw (Node would put U+FFFD), a BOM is kept for the checks below. */
const utf8 = (bytes: Uint8Array) => new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
export const readText = async (path: string) => utf8(await readFile(path));

/**
 * Text that js-yaml's YAML 1.2 core schema and the CLI's Go parser (yaml.v3, which keeps YAML 1.1's
 * timestamps, merge keys and number forms) read differently, or that only Go refuses: a date becomes
 * a timestamp, `<<` merges even quoted, 0755 / 0X1F / .5 / .inf / 1_000 / 1.5_0 are numbers or errors.
 * Matched on the raw text with the sealed values blanked out, comments and quoted strings included: a
 * false match only costs the CLI's read.
 */
const GO_READS_OTHERWISE: [RegExp, string][] = [
  [/(^|[\s[{,:])\d{4}-\d\d?-\d\d?(["'\s,:\]}]|[Tt ]\d|$)/m, 'a date'],
  [/<</, 'a merge key'],
  [/(^|[\s[{,:])[-+]?(0[\dxbo]|\.(\d|inf|nan)|[\d.][^\s,\]}]*_)/im, 'a number the CLI parses otherwise'],
  [/(^|[\s[{,])\?(\s|$)/m, 'a complex key'],
  [/\\\//, 'a \\/ escape'],
  [/[\u0085\u2028\u2029\ufeff]/, 'a line separator or byte-order mark'],
  // What YAML allows in a file (tab, line ends, printable text), less U+FFFE/U+FFFF, which Go refuses.
  [/[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u, 'a control character'],
  [/\\(u|U0000)[dD][89a-fA-F]/, 'a surrogate escape'],
];
/** A salt or a sealed value, `v1` and its `:` parts (the salt's last part is itself a sealed value). */
const SEALED = /\bv1(:[A-Za-z0-9+/=]*)+/g;

/** The raw checks above, on the text of a project file. */
function goReadsOtherwise(file: string, text: string): void {
  const odd = GO_READS_OTHERWISE.find(([pattern]) => pattern.test(text.replace(SEALED, 'v1')));
  if (odd) throw new Error(`${file} has ${odd[1]}`);
}

/** The only keys of a stack file the CLI reads for its config (the others have gone to the CLI above). */
const STACK_FILE_KEYS = new Set(['config', 'encryptionsalt', 'secretsprovider', 'encryptedkey']);

/**
 * A nested key the CLI's JSON orders and prints as JS does: a plain name, not a number (JS orders those
 * first), a null (`~` is "null" here, "<nil>" there), a list, a long or a non-ASCII text.
 */
const PLAIN_KEY = /^(?!(null|Null|NULL)$)[A-Za-z_$][\w$.-]{0,254}$/;

/**
 * The folder of a file backend (`file://...`), whose stacks keep their config only in their files
 * (Pulumi Cloud may keep it itself), and where this reader can see that the stack exists.
 */
function folderBackend(environment: NodeJS.ProcessEnv): string | undefined {
  const url = environment.PULUMI_BACKEND_URL;
  return url?.startsWith('file:///') ? join(decodeURIComponent(new URL(url).pathname), '.pulumi') : undefined;
}

const exists = (path: string) => access(path).then(() => true, () => false);

/** The stack's state file in a folder backend's project layout, and which of its forms are there: '' (JSON), '.gz', '.zst'. */
export async function stateFileOf(engine: Pick<Engine, 'stack' | 'environment'>, project: string): Promise<{ root: string; file: string; forms: string[] }> {
  const root = folderBackend(engine.environment);
  if (!root || engine.stack.includes('/')) throw new Error('not a stack of a folder backend');
  const file = join(root, 'stacks', project, `${engine.stack}.json`);
  const forms = await Promise.all(['', '.gz', '.zst'].map(async (ext) => ((await exists(file + ext)) ? [ext] : [])));
  return { root, file, forms: forms.flat() };
}
const isMap = (value: unknown): value is Record<string, Yaml> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The config from Pulumi.<stack>.yaml, or an error saying why the CLI should read it. */
export async function configInProcess(engine: Pick<Engine, 'projectDir' | 'stack' | 'environment'>): Promise<ConfigEntries> {
  const [projectText, stackText, jsonProject] = await Promise.all([
    readText(join(engine.projectDir, 'Pulumi.yaml')),
    readFile(join(engine.projectDir, `Pulumi.${engine.stack}.yaml`)).then(utf8, (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    }),
    exists(join(engine.projectDir, 'Pulumi.json')),
  ]);
  if (jsonProject) throw new Error('a Pulumi.json beside Pulumi.yaml');
  goReadsOtherwise('Pulumi.yaml', projectText);
  goReadsOtherwise('the stack file', stackText ?? '');
  const [project, stack] = [parseYaml(projectText), stackText === undefined ? undefined : parseYaml(stackText)];
  // Config the CLI would merge from elsewhere, or secrets it would decrypt otherwise.
  if (!isMap(project) || !isMap(stack)) throw new Error('no stack file');
  if ((await stateFileOf(engine, String(project.name))).forms.length === 0) throw new Error('no such stack in the backend');
  const unknownKey = Object.keys(stack).find((key) => !STACK_FILE_KEYS.has(key));
  if (unknownKey !== undefined) throw new Error(`the stack file has ${unknownKey}`);
  const cliOnly = 'config' in project || 'stackConfigDir' in project ? 'Pulumi.yaml has config of its own'
    : stack.secretsprovider !== undefined && stack.secretsprovider !== 'passphrase' ? `secrets by ${String(stack.secretsprovider)}` : undefined;
  if (cliOnly) throw new Error(cliOnly);
  const config = stack.config ?? {};
  if (!isMap(config)) throw new Error('config is not a map');
  const entries = Object.entries(config);
  // A key the CLI takes for no namespace or a path, a bare null (it prints "null"), values printed otherwise.
  const otherwise = entries.find(([key, value]) => !/^[^:]+:[^:]+$/.test(key) || value === null || printedOtherwise(value));
  if (otherwise) throw new Error(`the CLI reads ${otherwise[0]} otherwise`);
  const secure = entries.some(([, value]) => hasSecure(value));
  const decrypt = secure ? await passphraseSecrets(engine, String(stack.encryptionsalt ?? '')) : undefined;
  return Object.fromEntries(entries.map(([key, value]) => {
    const plain = decrypted(value, decrypt);
    const object = typeof plain === 'object' && plain !== null;
    return [key, { value: object ? goJson(plain) : String(plain ?? ''), secret: hasSecure(value), ...(object ? { objectValue: plain } : {}) }];
  }));
}

const derived = new Map<string, Promise<(text: string) => string>>();

/**
 * The opener of values sealed with the passphrase for this salt (`v1:...`), derived once per process:
 * a switch reads the config and the state's outputs, whose salts are the same.
 */
export async function passphraseSecrets(engine: Pick<Engine, 'projectDir' | 'environment'>, salt: string): Promise<(text: string) => string> {
  const phrase = await passphrase(engine.projectDir, engine.environment);
  const key = createHash('sha256').update(JSON.stringify([salt, phrase])).digest('hex');
  if (!derived.has(key)) derived.set(key, passphraseDecrypter(salt, phrase));
  return derived.get(key)!;
}

/**
 * As the CLI, which runs in the project's folder, takes it: the variable, else the file's text trimmed
 * (Go's TrimSpace keeps a BOM and trims U+0085, JS's trim the other way round: neither goes here).
 */
export async function passphrase(projectDir: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) return env.PULUMI_CONFIG_PASSPHRASE;
  if (!env.PULUMI_CONFIG_PASSPHRASE_FILE) throw new Error('no passphrase in the environment');
  const text = await readText(resolve(projectDir, env.PULUMI_CONFIG_PASSPHRASE_FILE));
  if (/[\ufeff\u0085]/.test(text)) throw new Error('a passphrase file that Go trims otherwise');
  return text.trim();
}

/** `{secure: v1:...}`, the form of an encrypted value anywhere in the config. */
function secureText(value: Yaml): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === 'secure' && typeof value.secure === 'string' ? value.secure : undefined;
}

/**
 * What JS would print otherwise than Go: a number that is not finite, -0 or an integer beyond 2^53, a
 * nested key that is not a plain name, a lone UTF-16 surrogate (only a YAML escape makes one).
 */
function printedOtherwise(value: Yaml): boolean {
  if (typeof value === 'number') return !Number.isFinite(value) || Object.is(value, -0) || (Number.isInteger(value) && !Number.isSafeInteger(value));
  // The CLI writes the file back and reads it again: a leading line end is lost, a leading tab before a line end refused.
  if (typeof value === 'string') return LONE_SURROGATE.test(value) || /^\n|^\t[^]*\n/.test(value);
  if (typeof value !== 'object' || value === null) return false;
  return (!Array.isArray(value) && Object.keys(value).some((key) => !PLAIN_KEY.test(key))) || Object.values(value).some(printedOtherwise);
}

export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** JSON as Go's encoder writes it (keys already sorted): <, >, &, U+2028 and U+2029 as \u escapes. */
function goJson(value: Yaml): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (text) => `\\u${text.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function hasSecure(value: Yaml): boolean {
  if (secureText(value) !== undefined) return true;
  return typeof value === 'object' && value !== null && Object.values(value).some(hasSecure);
}

/** The value with its secrets opened and, as Go's JSON encoder writes a map, its keys sorted. */
function decrypted(value: Yaml, decrypt?: (text: string) => string): Yaml {
  const text = secureText(value);
  if (text !== undefined) {
    const opened = decrypt!(text);
    if (LONE_SURROGATE.test(opened)) throw new Error('a secret Go would print otherwise');
    return opened;
  }
  if (Array.isArray(value)) return value.map((item) => decrypted(item, decrypt));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, decrypted(value[key], decrypt)]));
  }
  return value;
}

/**
 * Pulumi's passphrase secrets (pkg/secrets/passphrase, sdk config/crypt.go): the state `v1:<salt>:<a
 * sealed "pulumi">`, the key PBKDF2-SHA256 of the passphrase and the salt (1,000,000 rounds, 32 bytes),
 * each value `v1:<nonce>:<AES-256-GCM sealed text with its tag>`.
 */
async function passphraseDecrypter(state: string, phrase: string): Promise<(text: string) => string> {
  const [salt] = strictParts(state, 'salt');
  const key = await promisify(pbkdf2)(phrase, salt, 1_000_000, 32, 'sha256');
  const decrypt = (text: string) => {
    const [nonce, bytes] = strictParts(text, 'value');
    // Go's GCM takes a 12-byte nonce and a 16-byte tag only (Node would take a shorter tag).
    if (nonce.length !== 12 || bytes.length < 16) throw new Error('not a 12-byte nonce and a 16-byte tag');
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return utf8(Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]));
  };
  // A wrong passphrase fails here (the tag does not match), and the CLI then says so.
  const opened = (() => { try { return decrypt(state.split(':').slice(2).join(':')); } catch { return undefined; } })();
  if (opened !== 'pulumi') throw new Error('the passphrase does not open the salt');
  return decrypt;
}

/** Standard padded base64, as Go's decoder takes it (Node's would take it without padding, URL-safe, with spaces). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The decoded parts of a sealed value (`v1:<nonce>:<sealed>`) or of a salt state (`v1:<salt>:v1:<nonce>:<sealed>`),
 * or an error where Go's strict reading would fail.
 */
export function strictParts(text: string, kind: 'value' | 'salt'): Buffer[] {
  const parts = text.split(':');
  const shape = kind === 'value' ? ['v1', BASE64, BASE64] : ['v1', BASE64, 'v1', BASE64, BASE64];
  const ok = parts.length === shape.length && shape.every((want, i) => (typeof want === 'string' ? parts[i] === want : want.test(parts[i])));
  if (!ok) throw new Error(`not a ${kind === 'value' ? 'sealed value' : 'salt'} Go would read`);
  return parts.filter((_, i) => typeof shape[i] !== 'string').map((part) => Buffer.from(part, 'base64'));
}
