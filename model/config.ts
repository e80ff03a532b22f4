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
  openSshPrivateKey,
  openSshPublicKey,
  port,
  prefixLength,
  roleName,
  status,
  unixUser,
} from './validators';

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
  },
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
          },
          { invalid_type_error: 'an object {schedule, dumpDir, indexDir, dataDirs, database, appRole, keepDays}' },
        )
        .strict(),
    ),
  })
  .strict()
  // The alias label follows the interface unless set: `ens3` gets `ens3:1`, as eth0 gets the runbook's eth0:1.
  .transform((c) => ({ ...c, serviceLabel: c.serviceLabel ?? `${c.serviceInterface}:1` }));

export type StackConfig = z.output<typeof stackConfigSchema>;
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
  ports: DEFAULTS.ports,
  replication: { ...DEFAULTS.replication, appRole: 'sounz_app' },
};

type Path = ReadonlyArray<string | number>;

export interface ConfigProblem {
  /** e.g. `sounz:ports.mongrels[1]` */
  key: string;
  /** JSON-quoted so that spaces and newlines show; `(secret)` for the private key; undefined when not set. */
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

/** `raw`: the `sounz:` keys without namespace, object values JSON-parsed, strings as strings. */
export function parseStackConfig(raw: Record<string, unknown>): StackConfig {
  const parsed = stackConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.flatMap((issue) => issueProblems(issue, raw)));
  // Clashes between values (same name, same port, refused pair) are judged once each value is valid on its own.
  const problems = crossFieldProblems(parsed.data);
  if (problems.length > 0) throw new ConfigError(problems);
  return parsed.data;
}

function issueProblems(issue: z.ZodIssue, raw: unknown): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys(valueAt(EXAMPLE, issue.path) as object).join(', ');
    return issue.keys.map((k) => {
      const path = [...issue.path, k];
      return {
        key: keyOf(path),
        value: displayValue(raw, path),
        complaint: `not a known setting; known here: ${known}`,
        fix: `pulumi config rm ${configKeyArg(path)}`,
      };
    });
  }
  return [problem(raw, issue.path, `expected ${issue.message}`)];
}

function problem(raw: unknown, path: Path, complaint: string, example?: unknown): ConfigProblem {
  return { key: keyOf(path), value: displayValue(raw, path), complaint, fix: fixCommand(path, example) };
}

function crossFieldProblems(c: StackConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: Path, complaint: string, example?: unknown) => problems.push(problem(c, path, complaint, example));

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

  // Every port is listened on by one daemon on the same host: a collision names both keys.
  const portKeys: Path[] = [
    ['ports', 'website'],
    ['ports', 'apollo'],
    ...c.ports.mongrels.map((_, i): Path => ['ports', 'mongrels', i]),
    ['ports', 'apolloRsync'],
    ['ports', 'sounzRsync'],
  ];
  const used = new Set(portKeys.map((path) => valueAt(c, path)));
  const portOwner = new Map<unknown, Path>();
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

  // The data areas and the dump folder are served as rsync modules named after their paths: two
  // folders with one name (the same folder, or /data/sounz and /data-sounz) would drop one of them.
  const servedPaths: Path[] = [...c.replication.dataDirs.map((_, i): Path => ['replication', 'dataDirs', i]), ['replication', 'dumpDir']];
  const moduleOwner = new Map<string, Path>();
  for (const path of servedPaths) {
    const module = rsyncModuleName(valueAt(c, path) as string);
    const owner = moduleOwner.get(module);
    if (owner) add(path, `served under the same rsync module name "${module}" as ${keyOf(owner)}`, '<another-path>');
    else moduleOwner.set(module, path);
  }

  const pair = checkPair(c.primaryStatus, c.secondaryStatus);
  if (!pair.ok) {
    problems.push({
      key: 'sounz:primaryStatus, sounz:secondaryStatus',
      value: `(${JSON.stringify(c.primaryStatus)}, ${JSON.stringify(c.secondaryStatus)})`,
      complaint: pair.reason,
      fix: pair.suggestion,
    });
  }
  return problems;
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

function displayValue(root: unknown, path: Path): string | undefined {
  const value = valueAt(root, path);
  if (value === undefined) return undefined;
  if (path[0] === 'sshPrivateKey') return '(secret)';
  const json = JSON.stringify(value);
  return json.length > 120 ? `${json.slice(0, 117)}...` : json;
}

/** Nested keys need `--path`: `pulumi config set --path 'sounz:ports.mongrels[1]' 8001`. */
function configKeyArg(path: Path): string {
  return path.length > 1 ? `--path '${keyOf(path)}'` : keyOf(path);
}

function fixCommand(path: Path, example: unknown = valueAt(EXAMPLE, path)): string {
  if (path[0] === 'sshPrivateKey') return 'pulumi config set --secret sounz:sshPrivateKey < key';
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
