/**
 * The stack config (namespace `sounz:`): schema, the runbook's defaults, and errors an operator can
 * act on: each problem names the key, the bad value, what is allowed and the `pulumi config set` that
 * fixes it.
 */
import { z } from 'zod';
import { checkPair } from './pairs';
import { HOSTS } from './statuses';
import {
  absolutePath,
  cronSchedule,
  databaseName,
  hostName,
  hostnameOrIp,
  interfaceLabel,
  interfaceName,
  ipv4Address,
  keepDays,
  keepCopies,
  freeFloorMegabytes,
  keepDataDirectories,
  maxClockSkew,
  maxSlotWalKeepSize,
  openSshPrivateKey,
  openSshPublicKey,
  port,
  postgresqlVersion,
  clusterName,
  prefixLength,
  replicationMode,
  replicationPassword,
  roleName,
  rsyncModule,
  runTimeout,
  status,
  unixUser,
} from './validators';
import { shownValue } from './redact';

/** The rsync module that serves a folder: /usr/share/sounz -> usr-share-sounz. */
export function rsyncModuleName(path: string): string {
  return path.slice(1).replace(/\//g, '-');
}

/** The runbook's values. `pulumi config rm` on a key brings its default back. */
export const DEFAULTS = {
  host: { sshPort: 22, user: 'root' },
  servicePrefixLength: 24,
  serviceInterface: 'eth0',
  ports: { website: 80, apollo: 8983, mongrels: [8000, 8001, 8002], apolloRsync: 18983, sounzRsync: 18993 },
  replication: {
    schedule: '30 2 * * *',
    dumpDir: '/var/backups/sounz',
    indexDir: '/var/lib/apollo/index',
    dataDirs: ['/data/sounz', '/usr/share/sounz'],
    database: 'sounz',
    keepDays: 7,
    runTimeout: 14_400,
  },
  // Debian 12's cluster as pg_createcluster makes it.
  postgresql: { version: '15', cluster: 'main', port: 5432 },
};

/** A missing object section still reports each of its missing fields, and gets its defaults. */
function section<T extends z.ZodTypeAny>(schema: T) {
  return z.preprocess((v) => (v === undefined ? {} : v), schema);
}

function hostSchema() {
  return section(
    z
      .object(
        {
          name: hostName,
          address: hostnameOrIp,
          sshPort: port.default(DEFAULTS.host.sshPort),
          user: unixUser.default(DEFAULTS.host.user),
          hostKey: openSshPublicKey,
        },
        { invalid_type_error: 'an object {name, address, sshPort, user, hostKey}' },
      )
      .strict(),
  );
}

function listOf<T extends z.ZodTypeAny>(item: T, max: number, allowed: string) {
  return z.array(item, { invalid_type_error: allowed }).min(1, allowed).max(max, allowed);
}

export const stackConfigSchema = z
  .object({
    primary: hostSchema(),
    secondary: hostSchema(),
    sshPrivateKey: openSshPrivateKey,
    primaryStatus: status,
    secondaryStatus: status,
    serviceIp: ipv4Address,
    servicePrefixLength: prefixLength.default(DEFAULTS.servicePrefixLength),
    serviceInterface: interfaceName.default(DEFAULTS.serviceInterface),
    serviceLabel: interfaceLabel.optional(),
    /**
     * The operator's fencing command (for example an IPMI power-off), run on the operator's machine
     * for a host declared down that does not answer, before the other host claims the service IP: an
     * argv, never read by a shell of ours; `{host}` in an element becomes the host's name.
     */
    fenceCommand: z
      .array(
        z.string({ invalid_type_error: 'a plain string' })
          .min(1, 'a plain string of 1 to 4096 characters, without control characters')
          .max(4096, 'a plain string of 1 to 4096 characters, without control characters')
          // eslint-disable-next-line no-control-regex
          .regex(/^[^\x00-\x1f\x7f]*$/, 'a plain string of 1 to 4096 characters, without control characters'),
        { invalid_type_error: 'a list of 1 to 64 strings: the command and its arguments, e.g. ["ipmitool", "-H", "{host}-ipmi", "chassis", "power", "off"]' },
      )
      .min(1, 'a list of 1 to 64 strings: the command and its arguments')
      .max(64, 'a list of 1 to 64 strings: the command and its arguments')
      .optional(),
    /** Seconds a host's clock may differ from the operator's before the preflight refuses (the nightly copy compares clocks). */
    maxClockSkew: maxClockSkew.optional(),
    ports: section(
      z
        .object(
          {
            website: port.default(DEFAULTS.ports.website),
            apollo: port.default(DEFAULTS.ports.apollo),
            mongrels: listOf(port, 32, 'a list of 1 to 32 mongrel ports').default(DEFAULTS.ports.mongrels),
            apolloRsync: port.default(DEFAULTS.ports.apolloRsync),
            sounzRsync: port.default(DEFAULTS.ports.sounzRsync),
          },
          { invalid_type_error: 'an object {website, apollo, mongrels, apolloRsync, sounzRsync}' },
        )
        .strict(),
    ),
    /**
     * The PostgreSQL cluster on both hosts, as postgresql-common names it (pg_lsclusters); its data and
     * configuration directories are discovered on the host. Optional, so that a config parses to what it
     * always did; postgresqlCluster gives the defaults.
     */
    postgresql: z
      .object(
        {
          version: postgresqlVersion.optional(),
          cluster: clusterName.optional(),
          port: port.optional(),
        },
        { invalid_type_error: 'an object {version, cluster, port}' },
      )
      .strict()
      .optional(),
    replication: section(
      z
        .object(
          {
            schedule: cronSchedule.default(DEFAULTS.replication.schedule),
            dumpDir: absolutePath.default(DEFAULTS.replication.dumpDir),
            indexDir: absolutePath.default(DEFAULTS.replication.indexDir),
            dataDirs: listOf(absolutePath, 16, 'a list of 1 to 16 absolute paths').default(
              DEFAULTS.replication.dataDirs,
            ),
            database: databaseName.default(DEFAULTS.replication.database),
            /** The application's role, if it has its own: the post-switch check connects as it. */
            appRole: roleName.optional(),
            /** How long a copy keeps what it replaced on the receiving host. */
            keepDays: keepDays.default(DEFAULTS.replication.keepDays),
            /** How long one replication run may last (seconds): the host ends it then, putting back what it staged. */
            runTimeout: runTimeout.default(DEFAULTS.replication.runTimeout),
            // Optional, so that a config parses to what it always did; replicationSettings gives the defaults.
            /** How many copies a copy keeps of what it replaced, per data area and for the database (14). */
            keepCopies: keepCopies.optional(),
            /** The free space (MB) a copy leaves on every filesystem it writes to; kept copies go first (1024). */
            freeFloorMegabytes: freeFloorMegabytes.optional(),
            // Optional rather than defaulted, so that a nightly config parses to what it always did;
            // model/continuous.ts reads them with their defaults (REPLICATION_MODE_DEFAULTS).
            /** nightly: the runbook's copy every night; continuous: streaming replication of the database. */
            mode: replicationMode.optional(),
            /** In continuous mode, when the standby pulls the data areas and the Apollo index. */
            filesSchedule: cronSchedule.optional(),
            /** In continuous mode, the password of the replication role: a secret. */
            password: replicationPassword.optional(),
            /** In continuous mode, how many PostgreSQL data directories a rebuild keeps aside on a host. */
            keepDataDirectories: keepDataDirectories.optional(),
            /** In continuous mode, the most WAL (MB) the server keeps for a standby that does not take it; beyond, the slot is lost. */
            maxSlotWalKeepSize: maxSlotWalKeepSize.optional(),
          },
          { invalid_type_error: 'an object {schedule, dumpDir, indexDir, dataDirs, database, appRole, keepDays, runTimeout, keepCopies, freeFloorMegabytes, mode, filesSchedule, password, keepDataDirectories, maxSlotWalKeepSize}' },
        )
        .strict(),
    ),
  })
  .strict()
  // The alias label follows the interface unless set: `ens3` gets `ens3:1`, as eth0 gets the runbook's eth0:1.
  .transform((c) => ({ ...c, serviceLabel: c.serviceLabel ?? `${c.serviceInterface}:1` }));

export type StackConfig = z.output<typeof stackConfigSchema>;

/** sounz:postgresql with Debian's defaults. */
export function postgresqlCluster(config: StackConfig): typeof DEFAULTS.postgresql {
  const { version = DEFAULTS.postgresql.version, cluster = DEFAULTS.postgresql.cluster, port = DEFAULTS.postgresql.port } = config.postgresql ?? {};
  return { version, cluster, port };
}
/** `sounz:replication.mode`: the runbook's nightly copy, or PostgreSQL streaming replication (model/continuous.ts). */
export type ReplicationMode = NonNullable<StackConfig['replication']['mode']>;
export type HostConfig = StackConfig['primary'];

/** Values used in fix commands for keys without a default: the runbook's own machines. */
const EXAMPLE = {
  primary: {
    name: 'slayer',
    address: 'slayer.example.net',
    ...DEFAULTS.host,
    hostKey: 'ssh-ed25519 <base64 from /etc/ssh/ssh_host_ed25519_key.pub on slayer>',
  },
  secondary: {
    name: 'megadeth',
    address: 'megadeth.example.net',
    ...DEFAULTS.host,
    hostKey: 'ssh-ed25519 <base64 from /etc/ssh/ssh_host_ed25519_key.pub on megadeth>',
  },
  sshPrivateKey: '(secret)',
  primaryStatus: 'production',
  secondaryStatus: 'standby',
  serviceIp: '192.0.2.46',
  servicePrefixLength: DEFAULTS.servicePrefixLength,
  serviceInterface: DEFAULTS.serviceInterface,
  serviceLabel: `${DEFAULTS.serviceInterface}:1`,
  fenceCommand: ['ipmitool', '-H', '{host}-ipmi', 'chassis', 'power', 'off'],
  maxClockSkew: 30,
  ports: DEFAULTS.ports,
  postgresql: DEFAULTS.postgresql,
  replication: { ...DEFAULTS.replication, appRole: 'sounz_app', mode: 'nightly', filesSchedule: '*/5 * * * *', password: '(secret)', keepDataDirectories: 3, maxSlotWalKeepSize: 1024 },
};

type Path = ReadonlyArray<string | number>;

export interface ConfigProblem {
  /** e.g. `sounz:ports.mongrels[1]` */
  key: string;
  /**
   * JSON-quoted so that spaces and newlines show; `(secret)` for a secret key, `(not shown)` for an unknown
   * key (it may be a misspelt secret); undefined when not set.
   */
  value: string | undefined;
  complaint: string;
  fix: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `Invalid stack configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${problemText(p)}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export function problemText(p: ConfigProblem): string {
  const what = p.value === undefined ? `${p.key} is not set` : `${p.key} = ${p.value}`;
  return `${what}: ${p.complaint}. Fix: ${p.fix}`;
}

/** How a problem quotes the value at `path` of `root`. */
type Quote = (root: unknown, path: Path) => string | undefined;

/**
 * `raw`: the `sounz:` keys without namespace, object values JSON-parsed, strings as strings.
 * `secretKeys`: those of them the stack keeps secret (`pulumi config set --secret`, without namespace).
 * No problem ever quotes a secret key's value, nor sshPrivateKey's however it was set.
 */
export function parseStackConfig(raw: Record<string, unknown>, secretKeys: readonly string[] = []): StackConfig {
  const secret = new Set(['sshPrivateKey', ...secretKeys]);
  const quote: Quote = (root, path) => {
    const value = valueAt(root, path);
    if (value === undefined) return undefined;
    const isSecret = secret.has(String(path[0])) || (path[0] === 'replication' && path[1] === 'password');
    return isSecret ? '(secret)' : shownValue(value);
  };
  const parsed = stackConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.flatMap((issue) => issueProblems(issue, raw, quote)));
  // Clashes between values (same name, same port, refused pair) are judged once each value is valid on its own.
  const problems = crossFieldProblems(parsed.data, quote, secretKeys);
  if (problems.length > 0) throw new ConfigError(problems);
  return parsed.data;
}

function issueProblems(issue: z.ZodIssue, raw: unknown, quote: Quote): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys(valueAt(EXAMPLE, issue.path) as object).join(', ');
    // An unknown key is as likely a misspelt secret (sounz:sshKey) as anything: its value is not quoted.
    return issue.keys.map((k) => {
      const path = [...issue.path, k];
      return {
        key: keyOf(path),
        value: valueAt(raw, path) === undefined ? undefined : '(not shown)',
        complaint: `not a known setting; known here: ${known}`,
        fix: `pulumi config rm ${configKeyArg(path)}`,
      };
    });
  }
  return [problem(quote, raw, issue.path, `expected ${issue.message}`)];
}

function problem(quote: Quote, root: unknown, path: Path, complaint: string, example?: unknown): ConfigProblem {
  return { key: keyOf(path), value: quote(root, path), complaint, fix: fixCommand(path, example) };
}

function crossFieldProblems(c: StackConfig, quote: Quote, secretKeys: readonly string[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: Path, complaint: string, example?: unknown) => problems.push(problem(quote, c, path, complaint, example));

  if (c.secondary.name === c.primary.name) {
    add(['secondary', 'name'], 'the same as sounz:primary.name; the two machines need different names');
  }
  if (c.secondary.address.toLowerCase() === c.primary.address.toLowerCase()) {
    add(['secondary', 'address'], 'the same as sounz:primary.address; the two machines need different addresses');
  }
  for (const host of HOSTS) {
    if (c[host].address === c.serviceIp) {
      add(
        [host, 'address'],
        `the service IP, which moves between the hosts; use the ${host}'s own management address, which never changes`,
      );
    }
  }
  if (!c.serviceLabel.startsWith(`${c.serviceInterface}:`)) {
    add(['serviceLabel'], `expected "${c.serviceInterface}:<label>", a label on sounz:serviceInterface`, `${c.serviceInterface}:1`);
  }

  // Every port is listened on by one daemon on the same host: a collision names both keys. Roles move,
  // so each service may run on either host, where sshd already holds that host's SSH port (the two
  // SSH ports may be equal: they are on different hosts).
  const sshPortKeys: Path[] = HOSTS.map((host): Path => [host, 'sshPort']);
  const portKeys: Path[] = [
    ['ports', 'website'],
    ['ports', 'apollo'],
    ...c.ports.mongrels.map((_, i): Path => ['ports', 'mongrels', i]),
    ['ports', 'apolloRsync'],
    ['ports', 'sounzRsync'],
    // PostgreSQL's port is checked only when set: the default must not turn a config that parsed before into a refusal.
    ...(c.postgresql?.port === undefined ? [] : [['postgresql', 'port'] as Path]),
  ];
  const used = new Set([...sshPortKeys, ...portKeys].map((path) => valueAt(c, path)));
  const portOwner = new Map<unknown, Path>();
  for (const path of sshPortKeys) if (!portOwner.has(valueAt(c, path))) portOwner.set(valueAt(c, path), path);
  for (const path of portKeys) {
    const value = valueAt(c, path);
    const owner = portOwner.get(value);
    if (owner === undefined) portOwner.set(value, path);
    else {
      const runbookPort = valueAt(DEFAULTS, path);
      const fixPort = runbookPort === undefined || used.has(runbookPort) ? '<free-port>' : runbookPort;
      add(path, `already used by ${keyOf(owner)}; every port must be different`, fixPort);
    }
  }

  problems.push(...folderProblems(c, quote));

  // Continuous replication logs in as the replication role: its password must exist, and stay a secret.
  if (c.replication.mode === 'continuous' && c.replication.password === undefined) {
    add(['replication', 'password'], 'continuous replication needs the replication role\'s password, as a secret');
  }
  if (c.replication.password !== undefined && !secretKeys.includes('replication')) {
    problems.push({
      key: 'sounz:replication.password', value: '(secret)',
      complaint: 'is stored in plaintext in the stack config; it must be a secret',
      fix: fixCommand(['replication', 'password']),
    });
  }

  const pair = checkPair(c.primaryStatus, c.secondaryStatus);
  if (!pair.ok) {
    problems.push({
      key: 'sounz:primaryStatus, sounz:secondaryStatus',
      value: `(${quote(c, ['primaryStatus'])}, ${quote(c, ['secondaryStatus'])})`,
      complaint: pair.reason,
      fix: pair.suggestion,
    });
  }
  return problems;
}

/**
 * Trees that belong to each host itself. The replication mirrors every folder it serves onto the other
 * host and deletes there what the source lacks: a folder at, inside or above one of these would
 * overwrite the receiver's own system, configuration (its status file in /etc/sounz), logins or
 * database files.
 */
const HOST_TREES: Record<string, string> = {
  '/etc': "the host's own configuration (its status file is /etc/sounz/sounz.status)",
  '/var/lib/postgresql': "PostgreSQL's own files (the database travels as a dump, never as files)",
  '/root': "root's home (its .ssh/authorized_keys let the operator in)",
  '/var/log': "the host's own logs",
  '/var/spool': "the host's crontabs and mail queue",
  ...Object.fromEntries(
    ['/bin', '/boot', '/dev', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/run', '/sbin', '/sys', '/tmp',
      '/usr/bin', '/usr/include', '/usr/lib', '/usr/libexec', '/usr/sbin', '/var/lib/apt', '/var/lib/dpkg',
      '/var/lock', '/var/run', '/var/tmp'].map((tree) => [tree, 'the operating system']),
  ),
};

/** Folders that hold more than the application's data: a folder inside one is fine, the folder itself is not. */
const SHARED_FOLDERS = ['/data', '/home', '/media', '/mnt', '/opt', '/srv', '/usr', '/usr/local', '/usr/share',
  '/var', '/var/backups', '/var/cache', '/var/lib', '/var/mail', '/var/opt'];

const isWithin = (inner: string, outer: string) => inner === outer || inner.startsWith(`${outer}/`);

/**
 * The replicated folders (data areas, dump folder, Apollo's index) one by one, at most one problem each:
 * a host's own tree, a reserved rsync module name, a folder overlapping another, a module name taken.
 */
function folderProblems(c: StackConfig, quote: Quote): ConfigProblem[] {
  const folderKeys: Path[] = [
    ...c.replication.dataDirs.map((_, i): Path => ['replication', 'dataDirs', i]),
    ['replication', 'dumpDir'],
    ['replication', 'indexDir'],
  ];
  const folders = folderKeys.map((path) => valueAt(c, path) as string);
  const overlaps = (a: string, b: string) => isWithin(a, b) || isWithin(b, a);
  // A refused folder's fix is the runbook's folder for the key, unless another key uses that one.
  const runbookFolder = (path: Path, i: number) => {
    const runbook = valueAt(DEFAULTS, path) as string | undefined;
    return runbook === undefined || folders.some((f, j) => j !== i && overlaps(f, runbook)) ? '<another-path>' : runbook;
  };
  // A folder refused once is not held against the others.
  const refused = new Set<number>();
  const moduleOwner = new Map<string, Path>();
  return folderKeys.flatMap((path, i): ConfigProblem[] => {
    const folder = folders[i];
    const complain = (complaint: string, example = '<another-path>'): ConfigProblem[] => {
      refused.add(i);
      return [problem(quote, c, path, complaint, example)];
    };
    const mirrored = 'the replication mirrors it onto the other host, deleting what the source lacks';

    const tree = Object.keys(HOST_TREES).find((t) => isWithin(folder, t) || isWithin(t, folder));
    if (tree) {
      const where = folder === tree ? 'is' : isWithin(folder, tree) ? `is inside ${tree},` : `contains ${tree},`;
      return complain(`${where} ${HOST_TREES[tree]}: ${mirrored}`, runbookFolder(path, i));
    }
    if (SHARED_FOLDERS.includes(folder)) {
      return complain(`is a shared folder that holds more than SOUNZ's data: ${mirrored}; name the data's own folder inside it`,
        runbookFolder(path, i));
    }

    // Each folder is mirrored on its own: one inside another would be transferred twice, each
    // transfer deleting or overwriting what the other brought.
    const other = folders.findIndex((f, j) => j < i && !refused.has(j) && overlaps(folder, f));
    if (other >= 0) {
      const how = folder === folders[other] ? 'the same folder as' : isWithin(folder, folders[other]) ? 'inside' : 'contains';
      return complain(`${how} ${keyOf(folderKeys[other])}; each replicated folder is mirrored on its own, so none may hold another`);
    }

    if (path[1] === 'indexDir') return []; // served by the Apollo daemon as the module "index"
    // The data areas and the dump folder are served as rsync modules named after their paths.
    const module = rsyncModuleName(folder);
    const name = rsyncModule.safeParse(module);
    if (!name.success) return complain(`would be served as the rsync module "${module}": expected ${name.error.issues[0].message}`);
    if (module === 'generation') {
      return complain('would be served as the rsync module "generation", which publishes the host\'s switch generations to its peer\'s guard');
    }
    const owner = moduleOwner.get(module);
    if (owner) return complain(`served under the same rsync module name "${module}" as ${keyOf(owner)}`);
    moduleOwner.set(module, path);
    return [];
  });
}

function valueAt(root: unknown, path: Path): unknown {
  return path.reduce<unknown>(
    (v, p) => (v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[p] : undefined),
    root,
  );
}

function keyOf(path: Path): string {
  return 'sounz:' + path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Nested keys need `--path`: `pulumi config set --path 'sounz:ports.mongrels[1]' 8001`. */
function configKeyArg(path: Path): string {
  return path.length > 1 ? `--path '${keyOf(path)}'` : keyOf(path);
}

function fixCommand(path: Path, example: unknown = valueAt(EXAMPLE, path)): string {
  if (path[0] === 'sshPrivateKey') return 'pulumi config set --secret sounz:sshPrivateKey < key';
  if (path[0] === 'replication' && path[1] === 'password') {
    return "pulumi config set --secret --path 'sounz:replication.password' < password-file";
  }
  if (example !== null && typeof example === 'object') {
    // A whole section is wrong: a host has no defaults, so set its first field; other sections' defaults come back with `rm`.
    const isHost = path.length === 1 && (HOSTS as readonly unknown[]).includes(path[0]);
    return isHost ? fixCommand([...path, 'name']) : `pulumi config rm ${configKeyArg(path)}`;
  }
  return `pulumi config set ${configKeyArg(path)} ${shellWord(example ?? '<value>')}`;
}

/** Placeholders like <free-port> stay as they are; anything else a shell could split is single-quoted. */
function shellWord(value: unknown): string {
  const word = String(value);
  return /^(?:[A-Za-z0-9._:\/@+=,-]+|<[a-z-]+>)$/.test(word) ? word : `'${word}'`;
}

const NAMESPACE = 'sounz:';

/**
 * The stack config from `namespace:key` -> text entries: objects and lists are stored as JSON text.
 * `secretKeys` (`namespace:key`) are those the stack keeps secret: no error quotes their values.
 */
export function stackConfigFrom(entries: Record<string, string>, secretKeys: readonly string[] = []): StackConfig {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entries)) {
    if (!key.startsWith(NAMESPACE)) continue;
    raw[key.slice(NAMESPACE.length)] = /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  const secret = secretKeys.filter((key) => key.startsWith(NAMESPACE)).map((key) => key.slice(NAMESPACE.length));
  return parseStackConfig(raw, secret);
}
