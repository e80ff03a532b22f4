import { ConfigError, DEFAULTS, parseStackConfig, problemText } from '../../model';
import { stackConfigFrom } from '../../model/config';

import { BASE, PRIVATE_KEY, SLAYER_KEY } from '../support/stackConfig';

type Path = Array<string | number>;

function withValue(path: Path, value: unknown): Record<string, unknown> {
  const raw: Record<string, unknown> = structuredClone(BASE);
  let node: any = raw;
  let defaults: any = DEFAULTS;
  for (const p of path.slice(0, -1)) {
    defaults = defaults?.[p];
    // Lists start from the runbook's, so that only the one element under test is wrong.
    node[p] ??= structuredClone(defaults ?? {});
    node = node[p];
  }
  node[path[path.length - 1]] = value;
  return raw;
}

function problemsOf(raw: Record<string, unknown>): string[] {
  try {
    parseStackConfig(raw);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(problemText);
    throw e;
  }
  return [];
}

const ALLOWED = {
  name: 'a short host name like slayer: lowercase letters, digits and inner hyphens, at most 63 characters',
  address: 'an IPv4 address or a DNS hostname (letters, digits, hyphens and dots)',
  user: 'a Unix user name: lowercase letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters',
  hostKey:
    'the host\'s public key line "<type> <base64>" from /etc/ssh/ssh_host_*_key.pub without the comment, ' +
    'type one of ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa',
  status: 'one of down, production, standby, production_alone, standby_as_production, production_as_standby',
  ipv4: 'an IPv4 address: a dotted quad, each octet 0-255 without leading zeros',
  interface:
    'a network interface name like eth0: letters, digits, "_", "." and "-", at most 15 characters, not starting with "-"',
  label: 'an address label "<interface>:<label>" like eth0:1: letters, digits, "_", "." and "-", at most 15 characters in all',
  path:
    'an absolute, normalised path other than "/": names of letters, digits, ".", "_" and "-" separated by single "/", ' +
    'no "." or ".." names, no trailing "/"',
  schedule:
    'a cron schedule of five fields separated by single spaces (minute 0-59, hour 0-23, day of month 1-31, ' +
    'month 1-12, day of week 0-7), each "*", a number, a range a-b, a step */n or a-b/n, or a comma list of those',
  database:
    'a PostgreSQL database name: lowercase letters, digits and "_", not starting with a digit, at most 63 characters',
  role: 'a PostgreSQL role name: lowercase letters, digits and "_", not starting with a digit or "pg_", at most 63 characters',
  port: 'a TCP port, an integer from 1 to 65535',
  privateKey:
    'an OpenSSH or PEM private key block (-----BEGIN OPENSSH PRIVATE KEY----- ... -----END OPENSSH PRIVATE KEY-----)',
};

describe('a valid config', () => {
  test('gets the runbook defaults', () => {
    expect(parseStackConfig(BASE)).toEqual({
      ...BASE,
      primary: { ...BASE.primary, sshPort: 22, user: 'root' },
      secondary: { ...BASE.secondary, sshPort: 22, user: 'root' },
      servicePrefixLength: 24,
      serviceInterface: 'eth0',
      serviceLabel: 'eth0:1',
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
    });
  });

  test('takes numbers set as top-level strings, and labels the service IP on its own interface', () => {
    const config = parseStackConfig({ ...BASE, servicePrefixLength: '28', serviceInterface: 'ens3' });
    expect(config.servicePrefixLength).toBe(28);
    expect(config.serviceLabel).toBe('ens3:1');
  });

  test('keeps the defaults of a section it only partly sets', () => {
    const config = parseStackConfig({ ...BASE, ports: { website: 8080 }, replication: { schedule: '*/15 1-5 * * 1,3,5' } });
    expect(config.ports).toEqual({ ...DEFAULTS.ports, website: 8080 });
    expect(config.replication).toEqual({ ...DEFAULTS.replication, schedule: '*/15 1-5 * * 1,3,5' });
  });

  test.each([
    ['an IPv4 address', ['primary', 'address'], '10.0.0.1'],
    ['another user', ['secondary', 'user'], 'sounz-admin'],
    ['an ed25519 key on the secondary', ['secondary', 'hostKey'], SLAYER_KEY],
    ['a PKCS#8 private key', ['sshPrivateKey'], '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----'],
    ['a cron list of ranges with steps', ['replication', 'schedule'], '0,30 0-6/2 1-31 1-12 0-7'],
    ['a path with dots and hyphens', ['replication', 'dumpDir'], '/var/backups/sounz-2.0/db_dumps'],
  ])('accepts %s', (_what, path, value) => {
    expect(problemsOf(withValue(path, value))).toEqual([]);
  });
});

// Every string field, with everything a shell would interpret: each is refused with the exact text.
const STRING_FIELDS: Array<[Path, string, string]> = [
  [['primary', 'name'], ALLOWED.name, "pulumi config set --path 'sounz:primary.name' slayer"],
  [['primary', 'address'], ALLOWED.address, "pulumi config set --path 'sounz:primary.address' slayer.example.net"],
  [['primary', 'user'], ALLOWED.user, "pulumi config set --path 'sounz:primary.user' root"],
  [
    ['primary', 'hostKey'],
    ALLOWED.hostKey,
    "pulumi config set --path 'sounz:primary.hostKey' 'ssh-ed25519 <base64 from /etc/ssh/ssh_host_ed25519_key.pub on slayer>'",
  ],
  [['secondary', 'name'], ALLOWED.name, "pulumi config set --path 'sounz:secondary.name' megadeth"],
  [['secondary', 'address'], ALLOWED.address, "pulumi config set --path 'sounz:secondary.address' megadeth.example.net"],
  [['primaryStatus'], ALLOWED.status, 'pulumi config set sounz:primaryStatus production'],
  [['secondaryStatus'], ALLOWED.status, 'pulumi config set sounz:secondaryStatus standby'],
  [['serviceIp'], ALLOWED.ipv4, 'pulumi config set sounz:serviceIp 192.0.2.46'],
  [['serviceInterface'], ALLOWED.interface, 'pulumi config set sounz:serviceInterface eth0'],
  [['serviceLabel'], ALLOWED.label, 'pulumi config set sounz:serviceLabel eth0:1'],
  [['replication', 'schedule'], ALLOWED.schedule, "pulumi config set --path 'sounz:replication.schedule' '30 2 * * *'"],
  [['replication', 'dumpDir'], ALLOWED.path, "pulumi config set --path 'sounz:replication.dumpDir' /var/backups/sounz"],
  [['replication', 'indexDir'], ALLOWED.path, "pulumi config set --path 'sounz:replication.indexDir' /var/lib/apollo/index"],
  [['replication', 'dataDirs', 1], ALLOWED.path, "pulumi config set --path 'sounz:replication.dataDirs[1]' /usr/share/sounz"],
  [['replication', 'database'], ALLOWED.database, "pulumi config set --path 'sounz:replication.database' sounz"],
  [['replication', 'appRole'], ALLOWED.role, "pulumi config set --path 'sounz:replication.appRole' sounz_app"],
];
const GOOD: Record<string, string> = {
  'primary.name': 'slayer',
  'primary.address': 'slayer.example.net',
  'primary.user': 'root',
  'primary.hostKey': SLAYER_KEY,
  'secondary.name': 'megadeth',
  'secondary.address': '10.20.0.2',
  primaryStatus: 'production',
  secondaryStatus: 'standby',
  serviceIp: '192.0.2.46',
  serviceInterface: 'eth0',
  serviceLabel: 'eth0:1',
  'replication.schedule': '30 2 * * *',
  'replication.dumpDir': '/var/backups/sounz',
  'replication.indexDir': '/var/lib/apollo/index',
  'replication.dataDirs.1': '/usr/share/sounz',
  'replication.database': 'sounz',
  'replication.appRole': 'sounz_app',
};
const INJECTIONS: Array<(good: string) => string> = [
  (g) => `${g};reboot`,
  (g) => `${g}$(reboot)`,
  (g) => `${g}\`reboot\``,
  (g) => `${g}|reboot`,
  (g) => `${g}&&reboot`,
  (g) => `${g}\nreboot`,
  (g) => `${g} reboot`,
  (g) => `-${g}`,
  (g) => `'${g}'`,
  (g) => `${g}>/etc/passwd`,
];

describe.each(STRING_FIELDS)('string field %j', (path, allowed, fix) => {
  const key = 'sounz:' + path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
  const good = GOOD[path.join('.')];
  test.each(INJECTIONS.map((inject) => [inject(good)]))('refuses %j', (bad) => {
    expect(problemsOf(withValue(path, bad))).toEqual([`${key} = ${JSON.stringify(bad)}: expected ${allowed}. Fix: ${fix}`]);
  });
});

describe('the private key is secret', () => {
  test.each([['not a key; $(reboot)'], ['-----BEGIN OPENSSH PRIVATE KEY-----\n$(reboot)\n-----END OPENSSH PRIVATE KEY-----']])(
    'refuses %j without echoing it',
    (bad) => {
      let message = '';
      try {
        parseStackConfig({ ...BASE, sshPrivateKey: bad });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toBe(
        'Invalid stack configuration (1 problem):\n' +
          `  - sounz:sshPrivateKey = (secret): expected ${ALLOWED.privateKey}. ` +
          'Fix: pulumi config set --secret sounz:sshPrivateKey < key',
      );
    },
  );
});

describe('invalid values', () => {
  test.each<[string, Path, unknown, string]>([
    ['port 0', ['ports', 'website'], 0, `sounz:ports.website = 0: expected ${ALLOWED.port}. Fix: pulumi config set --path 'sounz:ports.website' 80`],
    ['port 65536', ['ports', 'apollo'], 65536, `sounz:ports.apollo = 65536: expected ${ALLOWED.port}. Fix: pulumi config set --path 'sounz:ports.apollo' 8983`],
    ['fractional port', ['ports', 'mongrels', 1], 8001.5, `sounz:ports.mongrels[1] = 8001.5: expected ${ALLOWED.port}. Fix: pulumi config set --path 'sounz:ports.mongrels[1]' 8001`],
    ['port with letters', ['primary', 'sshPort'], '22a', `sounz:primary.sshPort = "22a": expected ${ALLOWED.port}. Fix: pulumi config set --path 'sounz:primary.sshPort' 22`],
    ['no mongrels', ['ports', 'mongrels'], [], "sounz:ports.mongrels = []: expected a list of 1 to 32 mongrel ports. Fix: pulumi config rm --path 'sounz:ports.mongrels'"],
    ['octet over 255', ['serviceIp'], '192.0.2.256', `sounz:serviceIp = "192.0.2.256": expected ${ALLOWED.ipv4}. Fix: pulumi config set sounz:serviceIp 192.0.2.46`],
    ['leading zero', ['serviceIp'], '202.078.240.46', `sounz:serviceIp = "202.078.240.46": expected ${ALLOWED.ipv4}. Fix: pulumi config set sounz:serviceIp 192.0.2.46`],
    ['three octets', ['serviceIp'], '192.0.2', `sounz:serviceIp = "192.0.2": expected ${ALLOWED.ipv4}. Fix: pulumi config set sounz:serviceIp 192.0.2.46`],
    ['a bad IPv4 as address', ['secondary', 'address'], '10.20.0.999', `sounz:secondary.address = "10.20.0.999": expected ${ALLOWED.address}. Fix: pulumi config set --path 'sounz:secondary.address' megadeth.example.net`],
    ['prefix 7', ['servicePrefixLength'], 7, 'sounz:servicePrefixLength = 7: expected a prefix length, an integer from 8 to 32. Fix: pulumi config set sounz:servicePrefixLength 24'],
    ['prefix "33"', ['servicePrefixLength'], '33', 'sounz:servicePrefixLength = "33": expected a prefix length, an integer from 8 to 32. Fix: pulumi config set sounz:servicePrefixLength 24'],
    ['a label over 15 characters', ['serviceLabel'], 'eth0:1234567890a', `sounz:serviceLabel = "eth0:1234567890a": expected ${ALLOWED.label}. Fix: pulumi config set sounz:serviceLabel eth0:1`],
    ['a label on another interface', ['serviceLabel'], 'eth1:1', 'sounz:serviceLabel = "eth1:1": expected "eth0:<label>", a label on sounz:serviceInterface. Fix: pulumi config set sounz:serviceLabel eth0:1'],
    ['minute 60', ['replication', 'schedule'], '60 2 * * *', `sounz:replication.schedule = "60 2 * * *": expected ${ALLOWED.schedule}. Fix: pulumi config set --path 'sounz:replication.schedule' '30 2 * * *'`],
    ['four fields', ['replication', 'schedule'], '30 2 * *', `sounz:replication.schedule = "30 2 * *": expected ${ALLOWED.schedule}. Fix: pulumi config set --path 'sounz:replication.schedule' '30 2 * * *'`],
    ['@reboot', ['replication', 'schedule'], '@reboot', `sounz:replication.schedule = "@reboot": expected ${ALLOWED.schedule}. Fix: pulumi config set --path 'sounz:replication.schedule' '30 2 * * *'`],
    ['step 0', ['replication', 'schedule'], '*/0 2 * * *', `sounz:replication.schedule = "*/0 2 * * *": expected ${ALLOWED.schedule}. Fix: pulumi config set --path 'sounz:replication.schedule' '30 2 * * *'`],
    ['backwards range', ['replication', 'schedule'], '30 5-1 * * *', `sounz:replication.schedule = "30 5-1 * * *": expected ${ALLOWED.schedule}. Fix: pulumi config set --path 'sounz:replication.schedule' '30 2 * * *'`],
    ['a step on a number', ['replication', 'schedule'], '5/10 2 * * *', `sounz:replication.schedule = "5/10 2 * * *": expected ${ALLOWED.schedule}. Fix: pulumi config set --path 'sounz:replication.schedule' '30 2 * * *'`],
    ['two spaces', ['replication', 'schedule'], '30  2 * * *', `sounz:replication.schedule = "30  2 * * *": expected ${ALLOWED.schedule}. Fix: pulumi config set --path 'sounz:replication.schedule' '30 2 * * *'`],
    ['month names', ['replication', 'schedule'], '30 2 * jan *', `sounz:replication.schedule = "30 2 * jan *": expected ${ALLOWED.schedule}. Fix: pulumi config set --path 'sounz:replication.schedule' '30 2 * * *'`],
    ['the root', ['replication', 'dumpDir'], '/', `sounz:replication.dumpDir = "/": expected ${ALLOWED.path}. Fix: pulumi config set --path 'sounz:replication.dumpDir' /var/backups/sounz`],
    ['a relative path', ['replication', 'dumpDir'], 'var/backups', `sounz:replication.dumpDir = "var/backups": expected ${ALLOWED.path}. Fix: pulumi config set --path 'sounz:replication.dumpDir' /var/backups/sounz`],
    ['a trailing slash', ['replication', 'indexDir'], '/var/lib/apollo/', `sounz:replication.indexDir = "/var/lib/apollo/": expected ${ALLOWED.path}. Fix: pulumi config set --path 'sounz:replication.indexDir' /var/lib/apollo/index`],
    ['a double slash', ['replication', 'indexDir'], '/var//lib', `sounz:replication.indexDir = "/var//lib": expected ${ALLOWED.path}. Fix: pulumi config set --path 'sounz:replication.indexDir' /var/lib/apollo/index`],
    ['a ".." name', ['replication', 'dataDirs', 0], '/data/../etc', `sounz:replication.dataDirs[0] = "/data/../etc": expected ${ALLOWED.path}. Fix: pulumi config set --path 'sounz:replication.dataDirs[0]' /data/sounz`],
    ['a glob', ['replication', 'dataDirs', 0], '/data/*', `sounz:replication.dataDirs[0] = "/data/*": expected ${ALLOWED.path}. Fix: pulumi config set --path 'sounz:replication.dataDirs[0]' /data/sounz`],
    ['a reserved role name', ['replication', 'appRole'], 'pg_monitor', `sounz:replication.appRole = "pg_monitor": expected ${ALLOWED.role}. Fix: pulumi config set --path 'sounz:replication.appRole' sounz_app`],
    ['keeping for 0 days', ['replication', 'keepDays'], 0, "sounz:replication.keepDays = 0: expected a number of days, an integer from 1 to 365. Fix: pulumi config set --path 'sounz:replication.keepDays' 7"],
    ['an upper-case database', ['replication', 'database'], 'Sounz', `sounz:replication.database = "Sounz": expected ${ALLOWED.database}. Fix: pulumi config set --path 'sounz:replication.database' sounz`],
    ['a host key with its comment', ['primary', 'hostKey'], `${SLAYER_KEY} root@slayer`, `sounz:primary.hostKey = ${JSON.stringify(`${SLAYER_KEY} root@slayer`)}: expected ${ALLOWED.hostKey}. Fix: pulumi config set --path 'sounz:primary.hostKey' 'ssh-ed25519 <base64 from /etc/ssh/ssh_host_ed25519_key.pub on slayer>'`],
    ['a host key whose type and blob disagree', ['primary', 'hostKey'], SLAYER_KEY.replace('ssh-ed25519', 'ssh-rsa'), `sounz:primary.hostKey = ${JSON.stringify(SLAYER_KEY.replace('ssh-ed25519', 'ssh-rsa'))}: expected ${ALLOWED.hostKey}. Fix: pulumi config set --path 'sounz:primary.hostKey' 'ssh-ed25519 <base64 from /etc/ssh/ssh_host_ed25519_key.pub on slayer>'`],
    ['a host key with broken base64', ['primary', 'hostKey'], SLAYER_KEY.slice(0, -1), `sounz:primary.hostKey = ${JSON.stringify(SLAYER_KEY.slice(0, -1))}: expected ${ALLOWED.hostKey}. Fix: pulumi config set --path 'sounz:primary.hostKey' 'ssh-ed25519 <base64 from /etc/ssh/ssh_host_ed25519_key.pub on slayer>'`],
    ['a DSA host key', ['primary', 'hostKey'], 'ssh-dss AAAAB3NzaC1kc3M=', `sounz:primary.hostKey = "ssh-dss AAAAB3NzaC1kc3M=": expected ${ALLOWED.hostKey}. Fix: pulumi config set --path 'sounz:primary.hostKey' 'ssh-ed25519 <base64 from /etc/ssh/ssh_host_ed25519_key.pub on slayer>'`],
    ['a host name with capitals', ['primary', 'name'], 'Slayer', `sounz:primary.name = "Slayer": expected ${ALLOWED.name}. Fix: pulumi config set --path 'sounz:primary.name' slayer`],
    ['a status typo', ['primaryStatus'], 'prodution', `sounz:primaryStatus = "prodution": expected ${ALLOWED.status}. Fix: pulumi config set sounz:primaryStatus production`],
    ['a host given as a string', ['secondary'], 'megadeth', "sounz:secondary = \"megadeth\": expected an object {name, address, sshPort, user, hostKey}. Fix: pulumi config set --path 'sounz:secondary.name' megadeth"],
    ['a PostgreSQL version with its minor', ['postgresql', 'version'], '15.4', "sounz:postgresql.version = \"15.4\": expected a PostgreSQL major version like 15: digits only, at most 2. Fix: pulumi config set --path 'sounz:postgresql.version' 15"],
    ['a cluster name with a dash', ['postgresql', 'cluster'], 'main-2', "sounz:postgresql.cluster = \"main-2\": expected a postgresql-common cluster name like main: letters, digits and \"_\", at most 32 characters. Fix: pulumi config set --path 'sounz:postgresql.cluster' main"],
    ['PostgreSQL on the website\'s port', ['postgresql', 'port'], 80, "sounz:postgresql.port = 80: already used by sounz:ports.website; every port must be different. Fix: pulumi config set --path 'sounz:postgresql.port' 5432"],
    ['an unknown key', ['primaryStatuss'], 'production', 'sounz:primaryStatuss = (not shown): not a known setting; known here: primary, secondary, sshPrivateKey, primaryStatus, secondaryStatus, serviceIp, servicePrefixLength, serviceInterface, serviceLabel, fenceCommand, maxClockSkew, ports, postgresql, replication. Fix: pulumi config rm sounz:primaryStatuss'],
    ['an unknown nested key', ['ports', 'mongrel'], [8000], "sounz:ports.mongrel = (not shown): not a known setting; known here: website, apollo, mongrels, apolloRsync, sounzRsync. Fix: pulumi config rm --path 'sounz:ports.mongrel'"],
  ])('refuses %s', (_what, path, value, expected) => {
    expect(problemsOf(withValue(path, value))).toEqual([expected]);
  });

  test('refuses more than 32 mongrels', () => {
    const ports = Array.from({ length: 33 }, (_, i) => 8000 + i);
    expect(problemsOf(withValue(['ports', 'mongrels'], ports))).toEqual([
      `sounz:ports.mongrels = ${JSON.stringify(ports).slice(0, 117)}...: expected a list of 1 to 32 mongrel ports. Fix: pulumi config rm --path 'sounz:ports.mongrels'`,
    ]);
  });
});

describe('values that clash with each other', () => {
  test.each<[string, Record<string, unknown>, string[]]>([
    [
      'two ports the same, naming both keys',
      { ...BASE, ports: { apolloRsync: 8983 } },
      ["sounz:ports.apolloRsync = 8983: already used by sounz:ports.apollo; every port must be different. Fix: pulumi config set --path 'sounz:ports.apolloRsync' 18983"],
    ],
    [
      'a mongrel on a port already used, whose runbook port is taken too',
      { ...BASE, ports: { website: 8001 } },
      ["sounz:ports.mongrels[1] = 8001: already used by sounz:ports.website; every port must be different. Fix: pulumi config set --path 'sounz:ports.mongrels[1]' <free-port>"],
    ],
    [
      'the same name twice',
      { ...BASE, secondary: { ...BASE.secondary, name: 'slayer' } },
      ["sounz:secondary.name = \"slayer\": the same as sounz:primary.name; the two machines need different names. Fix: pulumi config set --path 'sounz:secondary.name' megadeth"],
    ],
    [
      'the same address twice, whatever the case',
      { ...BASE, secondary: { ...BASE.secondary, address: 'SLAYER.example.net' } },
      ["sounz:secondary.address = \"SLAYER.example.net\": the same as sounz:primary.address; the two machines need different addresses. Fix: pulumi config set --path 'sounz:secondary.address' megadeth.example.net"],
    ],
    [
      'a host reached at the service IP',
      { ...BASE, serviceIp: '10.20.0.2' },
      ["sounz:secondary.address = \"10.20.0.2\": the service IP, which moves between the hosts; use the secondary's own management address, which never changes. Fix: pulumi config set --path 'sounz:secondary.address' megadeth.example.net"],
    ],
    [
      'the same data directory twice',
      { ...BASE, replication: { dataDirs: ['/data/sounz', '/data/sounz'] } },
      ["sounz:replication.dataDirs[1] = \"/data/sounz\": the same folder as sounz:replication.dataDirs[0]; each replicated folder is mirrored on its own, so none may hold another. Fix: pulumi config set --path 'sounz:replication.dataDirs[1]' <another-path>"],
    ],
    [
      'two folders that one rsync module name would serve',
      { ...BASE, replication: { dataDirs: ['/data/sounz', '/data-sounz'] } },
      ["sounz:replication.dataDirs[1] = \"/data-sounz\": served under the same rsync module name \"data-sounz\" as sounz:replication.dataDirs[0]. Fix: pulumi config set --path 'sounz:replication.dataDirs[1]' <another-path>"],
    ],
    [
      'the dump folder inside the replicated data',
      { ...BASE, replication: { dumpDir: '/data/sounz' } },
      ["sounz:replication.dumpDir = \"/data/sounz\": the same folder as sounz:replication.dataDirs[0]; each replicated folder is mirrored on its own, so none may hold another. Fix: pulumi config set --path 'sounz:replication.dumpDir' <another-path>"],
    ],
    [
      'a refused pair of statuses',
      { ...BASE, primaryStatus: 'production', secondaryStatus: 'down' },
      [
        'sounz:primaryStatus, sounz:secondaryStatus = ("production", "down"): the primary would be production, which means running alongside a working standby, but the secondary is down. ' +
          'Fix: use EMERGENCY (production_alone, down): pulumi config set sounz:primaryStatus production_alone && pulumi config set sounz:secondaryStatus down',
      ],
    ],
  ])('refuses %s', (_what, raw, expected) => {
    expect(problemsOf(raw)).toEqual(expected);
  });
});

test('an empty config lists every missing key in one error', () => {
  let message = '';
  try {
    parseStackConfig({});
  } catch (e) {
    message = (e as Error).message;
  }
  expect(message).toBe(
    'Invalid stack configuration (10 problems):\n' +
          `  - sounz:primary.name is not set: expected ${ALLOWED.name}. Fix: pulumi config set --path 'sounz:primary.name' slayer\n` +
          `  - sounz:primary.address is not set: expected ${ALLOWED.address}. Fix: pulumi config set --path 'sounz:primary.address' slayer.example.net\n` +
          `  - sounz:primary.hostKey is not set: expected ${ALLOWED.hostKey}. Fix: pulumi config set --path 'sounz:primary.hostKey' 'ssh-ed25519 <base64 from /etc/ssh/ssh_host_ed25519_key.pub on slayer>'\n` +
          `  - sounz:secondary.name is not set: expected ${ALLOWED.name}. Fix: pulumi config set --path 'sounz:secondary.name' megadeth\n` +
          `  - sounz:secondary.address is not set: expected ${ALLOWED.address}. Fix: pulumi config set --path 'sounz:secondary.address' megadeth.example.net\n` +
          `  - sounz:secondary.hostKey is not set: expected ${ALLOWED.hostKey}. Fix: pulumi config set --path 'sounz:secondary.hostKey' 'ssh-ed25519 <base64 from /etc/ssh/ssh_host_ed25519_key.pub on megadeth>'\n` +
          `  - sounz:sshPrivateKey is not set: expected ${ALLOWED.privateKey}. Fix: pulumi config set --secret sounz:sshPrivateKey < key\n` +
          `  - sounz:primaryStatus is not set: expected ${ALLOWED.status}. Fix: pulumi config set sounz:primaryStatus production\n` +
          `  - sounz:secondaryStatus is not set: expected ${ALLOWED.status}. Fix: pulumi config set sounz:secondaryStatus standby\n` +
          `  - sounz:serviceIp is not set: expected ${ALLOWED.ipv4}. Fix: pulumi config set sounz:serviceIp 192.0.2.46`,
  );
});

// Issue 12, finding 8: values of the right form that would break the hosts.
describe('values that validate but cannot work', () => {
  const MIRRORED = 'the replication mirrors it onto the other host, deleting what the source lacks';

  test.each<[string, Path, string, string]>([
    ['/etc', ['replication', 'dataDirs', 0], '/etc', `is the host's own configuration (its status file is /etc/sounz/sounz.status): ${MIRRORED}. Fix: pulumi config set --path 'sounz:replication.dataDirs[0]' /data/sounz`],
    ['/etc/sounz', ['replication', 'indexDir'], '/etc/sounz', `is inside /etc, the host's own configuration (its status file is /etc/sounz/sounz.status): ${MIRRORED}. Fix: pulumi config set --path 'sounz:replication.indexDir' /var/lib/apollo/index`],
    ['PostgreSQL\'s tree', ['replication', 'dumpDir'], '/var/lib/postgresql', `is PostgreSQL's own files (the database travels as a dump, never as files): ${MIRRORED}. Fix: pulumi config set --path 'sounz:replication.dumpDir' /var/backups/sounz`],
    ['a folder in PostgreSQL\'s tree', ['replication', 'dumpDir'], '/var/lib/postgresql/dumps', `is inside /var/lib/postgresql, PostgreSQL's own files (the database travels as a dump, never as files): ${MIRRORED}. Fix: pulumi config set --path 'sounz:replication.dumpDir' /var/backups/sounz`],
    ['/var/lib, above PostgreSQL\'s tree', ['replication', 'dataDirs', 1], '/var/lib', `contains /var/lib/postgresql, PostgreSQL's own files (the database travels as a dump, never as files): ${MIRRORED}. Fix: pulumi config set --path 'sounz:replication.dataDirs[1]' /usr/share/sounz`],
    ['/usr, above the system', ['replication', 'dataDirs', 1], '/usr', `contains /usr/bin, the operating system: ${MIRRORED}. Fix: pulumi config set --path 'sounz:replication.dataDirs[1]' /usr/share/sounz`],
    ['root\'s home', ['replication', 'dataDirs', 0], '/root/sounz', `is inside /root, root's home (its .ssh/authorized_keys let the operator in): ${MIRRORED}. Fix: pulumi config set --path 'sounz:replication.dataDirs[0]' /data/sounz`],
    ['/home', ['replication', 'dataDirs', 0], '/home', `is a shared folder that holds more than SOUNZ's data: ${MIRRORED}; name the data's own folder inside it. Fix: pulumi config set --path 'sounz:replication.dataDirs[0]' /data/sounz`],
    ['/usr/share, without holding the next data area against it', ['replication', 'dataDirs', 0], '/usr/share', `is a shared folder that holds more than SOUNZ's data: ${MIRRORED}; name the data's own folder inside it. Fix: pulumi config set --path 'sounz:replication.dataDirs[0]' /data/sounz`],
  ])('refuses %s', (_what, path, value, expected) => {
    const key = 'sounz:' + path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
    expect(problemsOf(withValue(path, value))).toEqual([`${key} = ${JSON.stringify(value)}: ${expected}`]);
  });

  test.each(['/proc', '/sys', '/dev', '/run', '/boot', '/bin', '/var', '/var/log/sounz', '/var/spool/cron', '/tmp', '/opt', '/srv'].map((p) => [p]))(
    'refuses the system folder %s as a data area',
    (folder) => {
      const problems = problemsOf(withValue(['replication', 'dataDirs', 0], folder));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^sounz:replication\.dataDirs\[0\] = ".*": (is|contains) /);
    },
  );

  test.each([['/srv/sounz'], ['/home/sounz/uploads'], ['/var/lib/apollo/other-index'], ['/var/backups/sounz-files']])('accepts %s', (folder) => {
    expect(problemsOf(withValue(['replication', 'dataDirs', 0], folder))).toEqual([]);
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['a data area inside another', { dataDirs: ['/data/sounz', '/data/sounz/uploads'] },
      "sounz:replication.dataDirs[1] = \"/data/sounz/uploads\": inside sounz:replication.dataDirs[0]; each replicated folder is mirrored on its own, so none may hold another. Fix: pulumi config set --path 'sounz:replication.dataDirs[1]' <another-path>"],
    ['a data area holding another', { dataDirs: ['/data/sounz/uploads', '/data/sounz'] },
      "sounz:replication.dataDirs[1] = \"/data/sounz\": contains sounz:replication.dataDirs[0]; each replicated folder is mirrored on its own, so none may hold another. Fix: pulumi config set --path 'sounz:replication.dataDirs[1]' <another-path>"],
    ['the index inside a data area', { indexDir: '/usr/share/sounz/apollo-index' },
      "sounz:replication.indexDir = \"/usr/share/sounz/apollo-index\": inside sounz:replication.dataDirs[1]; each replicated folder is mirrored on its own, so none may hold another. Fix: pulumi config set --path 'sounz:replication.indexDir' <another-path>"],
    ['the dumps holding the index', { dumpDir: '/var/lib/apollo' },
      "sounz:replication.indexDir = \"/var/lib/apollo/index\": inside sounz:replication.dumpDir; each replicated folder is mirrored on its own, so none may hold another. Fix: pulumi config set --path 'sounz:replication.indexDir' <another-path>"],
    ['a folder rsyncd would read as its [global] section', { dataDirs: ['/global'] },
      "sounz:replication.dataDirs[0] = \"/global\": would be served as the rsync module \"global\": expected an rsync module name: letters, digits, \".\", \"_\" and \"-\", not starting with \"-\", and not \"global\" in any case (rsyncd.conf(5) reads a [global] section as the daemon's own settings). Fix: pulumi config set --path 'sounz:replication.dataDirs[0]' <another-path>"],
  ])('refuses %s', (_what, replication, expected) => {
    expect(problemsOf({ ...BASE, replication })).toEqual([expected]);
  });

  test('refuses "global" in any case, as rsync itself compares it', () => {
    expect(problemsOf({ ...BASE, replication: { dataDirs: ['/GLOBAL'] } })[0]).toContain('would be served as the rsync module "GLOBAL"');
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['the SOUNZ rsync daemon on sshd\'s port', { ports: { sounzRsync: 22 } },
      "sounz:ports.sounzRsync = 22: already used by sounz:primary.sshPort; every port must be different. Fix: pulumi config set --path 'sounz:ports.sounzRsync' 18993"],
    ['the Apollo rsync daemon on the secondary\'s SSH port', { secondary: { ...BASE.secondary, sshPort: 2222 }, ports: { apolloRsync: 2222 } },
      "sounz:ports.apolloRsync = 2222: already used by sounz:secondary.sshPort; every port must be different. Fix: pulumi config set --path 'sounz:ports.apolloRsync' 18983"],
    ['the website on sshd\'s port', { ports: { website: 22 } },
      "sounz:ports.website = 22: already used by sounz:primary.sshPort; every port must be different. Fix: pulumi config set --path 'sounz:ports.website' 80"],
  ])('refuses %s', (_what, change, expected) => {
    expect(problemsOf({ ...BASE, ...change })).toEqual([expected]);
  });

  test('accepts both hosts on the same SSH port, and SSH on a port of its own', () => {
    expect(problemsOf({ ...BASE, primary: { ...BASE.primary, sshPort: 2222 }, secondary: { ...BASE.secondary, sshPort: 2222 } })).toEqual([]);
  });

  const SCHEDULE_FIX = "Fix: pulumi config set --path 'sounz:replication.schedule' '30 2 * * *'";
  test.each([['30 2 31 2 *'], ['0 0 30 2 *'], ['0 0 31 4,6,9,11 *']])('refuses %j, a schedule that never fires', (schedule) => {
    expect(problemsOf(withValue(['replication', 'schedule'], schedule))).toEqual([
      `sounz:replication.schedule = ${JSON.stringify(schedule)}: expected a cron schedule that fires at least once every year; this one never fires. ${SCHEDULE_FIX}`,
    ]);
  });

  test('refuses a schedule that skips years, whatever year it is checked in', () => {
    const [problem] = problemsOf(withValue(['replication', 'schedule'], '0 3 29 2 *'));
    expect(problem).toMatch(/: expected a cron schedule that fires at least once every year; this one does not fire in 20\d\d \(its next run after that: 20\d\d-02-29 03:00 UTC\)\. /);
  });

  // Vixie cron: with both day fields restricted a day matches either, so 31 February on Mondays fires on Mondays.
  test.each([['30 2 31 2 1'], ['0 0 31 * *'], ['0 4 * * 0'], ['15 3 1 1 *'], ['*/15 1-5 * * 1,3,5']])('accepts %j', (schedule) => {
    expect(problemsOf(withValue(['replication', 'schedule'], schedule))).toEqual([]);
  });
});

// Issue 12, finding 9: a secret is never echoed, whatever key it was set under.
describe('secrets never appear in a problem', () => {
  const KEY_BODY = PRIVATE_KEY.split('\n')[1];

  test('a private key under a misspelt key is not quoted', () => {
    expect(problemsOf({ ...BASE, sshKey: PRIVATE_KEY })).toEqual([
      'sounz:sshKey = (not shown): not a known setting; known here: primary, secondary, sshPrivateKey, primaryStatus, secondaryStatus, serviceIp, servicePrefixLength, serviceInterface, serviceLabel, fenceCommand, maxClockSkew, ports, postgresql, replication. Fix: pulumi config rm sounz:sshKey',
    ]);
  });

  test.each<[string, Path]>([
    ['a host key', ['primary', 'hostKey']],
    ['an address', ['secondary', 'address']],
  ])('a private key pasted as %s is not quoted', (_what, path) => {
    const [problem] = problemsOf(withValue(path, PRIVATE_KEY));
    expect(problem).toContain('= (looks like a private key: not shown): expected');
    expect(problem).not.toContain(KEY_BODY.slice(0, 20));
  });

  test('a key pasted without its armour is not quoted either', () => {
    const [problem] = problemsOf(withValue(['primary', 'hostKey'], KEY_BODY));
    expect(problem).toContain('(looks like a private key: not shown)');
  });

  test('no value of a key the stack keeps secret is quoted, in a form problem or in a clash', () => {
    const messageOf = (raw: Record<string, unknown>, secretKeys: string[]) => {
      try {
        parseStackConfig(raw, secretKeys);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(messageOf({ ...BASE, serviceIp: '10.20.0.999' }, ['serviceIp'])).toContain('sounz:serviceIp = (secret): expected an IPv4 address');
    const clash = messageOf({ ...BASE, serviceIp: '10.20.0.2' }, ['secondary']);
    expect(clash).toContain("sounz:secondary.address = (secret): the service IP, which moves between the hosts; use the secondary's own");
    expect(clash).not.toContain('"10.20.0.2"');
  });

  test('the stack\'s secret keys reach the check as the stack marks them', () => {
    const entries = { 'sounz:primary': JSON.stringify({ ...BASE.primary, address: 'slayer.example.net;' }), 'other:x': '1' };
    expect(() => stackConfigFrom(entries, ['sounz:primary'])).toThrow('sounz:primary.address = (secret): expected');
  });
});

test('sounz:maxClockSkew: seconds from 1 to 3600, optional (the preflight takes 30 s then)', () => {
  expect(parseStackConfig({ ...BASE, maxClockSkew: '45' }).maxClockSkew).toBe(45);
  expect(parseStackConfig(BASE).maxClockSkew).toBeUndefined();
  expect(() => parseStackConfig({ ...BASE, maxClockSkew: 0 })).toThrow('a number of seconds, an integer from 1 to 3600');
});
