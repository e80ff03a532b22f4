/**
 * The leaf grammar of every value that reaches a host, as zod schemas built by one function: the stack
 * config (validators.ts) and the providers' `check` (providers/contract.ts) both call it. Providers are
 * serialized into the state as code, and zod objects do not serialize: a function that builds them does.
 *
 * Config values end up in commands run on the hosts. Each grammar here is narrow enough that nothing
 * it accepts means anything to a shell: no whitespace, control characters, quotes, `$`, backticks,
 * `;`, `|`, `&`, `<`, `>`, `(`, `)`, `*` (outside cron fields), `\`, and no leading `-`.
 * Every failure message is the phrase that says what is allowed.
 */
import type { z as zod } from 'zod';
import { yearWithoutRun } from './cron';
import { STATUSES } from './statuses';

export type Zod = typeof zod;

export function grammar(z: Zod) {
  function text(allowed: string, valid: (s: string) => boolean) {
    return z.string({ required_error: allowed, invalid_type_error: allowed }).refine(valid, allowed);
  }

  /** Top-level numbers arrive as strings: `pulumi config set sounz:servicePrefixLength 24` stores "24". */
  function integer(min: number, max: number, allowed: string) {
    return z.preprocess(
      (v) => (typeof v === 'string' && /^(0|[1-9][0-9]*)$/.test(v) ? Number(v) : v),
      z
        .number({ required_error: allowed, invalid_type_error: allowed })
        .int(allowed)
        .min(min, allowed)
        .max(max, allowed),
    );
  }

  const status = z.enum(STATUSES, {
    errorMap: () => ({ message: `one of ${STATUSES.join(', ')}` }),
  });

  const port = integer(1, 65535, 'a TCP port, an integer from 1 to 65535');

  const prefixLength = integer(8, 32, 'a prefix length, an integer from 8 to 32');

  const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
  const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

  const ipv4Address = text(
    'an IPv4 address: a dotted quad, each octet 0-255 without leading zeros',
    (s) => IPV4.test(s),
  );

  const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

  function isDnsName(s: string): boolean {
    const labels = s.split('.');
    // An all-digit last label is a mistyped IPv4 address, not a name.
    return s.length <= 253 && labels.every((l) => DNS_LABEL.test(l)) && !/^[0-9]+$/.test(labels[labels.length - 1]);
  }

  const hostnameOrIp = text(
    'an IPv4 address or a DNS hostname (letters, digits, hyphens and dots)',
    (s) => IPV4.test(s) || isDnsName(s),
  );

  const hostName = text(
    'a short host name like slayer: lowercase letters, digits and inner hyphens, at most 63 characters',
    (s) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(s),
  );

  const unixUser = text(
    'a Unix user name: lowercase letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters',
    (s) => /^[a-z_][a-z0-9_-]{0,31}$/.test(s),
  );

  const HOST_KEY_TYPES = [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'ssh-rsa',
  ] as const;

  function isOpenSshPublicKey(s: string): boolean {
    const m = /^([a-z0-9-]+) ([A-Za-z0-9+/]+={0,2})$/.exec(s);
    if (!m || !(HOST_KEY_TYPES as readonly string[]).includes(m[1])) return false;
    const [, type, base64] = m;
    const blob = Buffer.from(base64, 'base64');
    // Canonical base64 only, and the blob must start with its own key type (RFC 4253 §6.6):
    // a line whose two halves disagree is a copy-and-paste accident.
    if (blob.toString('base64') !== base64 || blob.length < 4) return false;
    const typeLength = blob.readUInt32BE(0);
    return blob.length > 4 + typeLength && blob.subarray(4, 4 + typeLength).toString('latin1') === type;
  }

  const openSshPublicKey = text(
    `the host's public key line "<type> <base64>" from /etc/ssh/ssh_host_*_key.pub without the comment, ` +
      `type one of ${HOST_KEY_TYPES.join(', ')}`,
    isOpenSshPublicKey,
  );

  const PRIVATE_KEY_BLOCK =
    /^-----BEGIN ((?:OPENSSH |RSA |EC |DSA |ENCRYPTED )?)PRIVATE KEY-----\r?\n([\s\S]+?)\r?\n-----END \1PRIVATE KEY-----\s*$/;
  const PRIVATE_KEY_LINE = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z-]+: [ -~]+|)$/;

  const openSshPrivateKey = text(
    'an OpenSSH or PEM private key block (-----BEGIN OPENSSH PRIVATE KEY----- ... -----END OPENSSH PRIVATE KEY-----)',
    (s) => {
      const m = PRIVATE_KEY_BLOCK.exec(s);
      return m !== null && m[2].split(/\r?\n/).every((line) => PRIVATE_KEY_LINE.test(line));
    },
  );

  const interfaceName = text(
    'a network interface name like eth0: letters, digits, "_", "." and "-", at most 15 characters, not starting with "-"',
    (s) => /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/.test(s) && s !== '.' && s !== '..',
  );

  const interfaceLabel = text(
    'an address label "<interface>:<label>" like eth0:1: letters, digits, "_", "." and "-", at most 15 characters in all',
    (s) => s.length <= 15 && /^[A-Za-z0-9_.][A-Za-z0-9_.-]*:[A-Za-z0-9_.-]+$/.test(s),
  );

  const absolutePath = text(
    'an absolute, normalised path other than "/": names of letters, digits, ".", "_" and "-" separated by single "/", ' +
      'no "." or ".." names, no trailing "/"',
    (s) =>
      s.startsWith('/') &&
      s.length <= 4096 &&
      s
        .slice(1)
        .split('/')
        .every((name) => /^[A-Za-z0-9._-]+$/.test(name) && name !== '.' && name !== '..'),
  );

  const databaseName = text(
    'a PostgreSQL database name: lowercase letters, digits and "_", not starting with a digit, at most 63 characters',
    (s) => /^[a-z_][a-z0-9_]{0,62}$/.test(s),
  );

  const roleName = text(
    'a PostgreSQL role name: lowercase letters, digits and "_", not starting with a digit or "pg_", at most 63 characters',
    (s) => /^[a-z_][a-z0-9_]{0,62}$/.test(s) && !s.startsWith('pg_'),
  );

  // postgresql-common's names: a major version, and a cluster name (its unit is postgresql@<version>-<cluster>).
  const postgresqlVersion = text('a PostgreSQL major version like 15: digits only, at most 2', (s) => /^[1-9][0-9]?$/.test(s));

  const clusterName = text(
    'a postgresql-common cluster name like main: letters, digits and "_", at most 32 characters',
    (s) => /^[A-Za-z0-9_]{1,32}$/.test(s),
  );

  const keepDays = integer(1, 365, 'a number of days, an integer from 1 to 365');

  const runTimeout = integer(60, 86_400, 'a number of seconds, an integer from 60 to 86400');

  const keepCopies = integer(1, 1000, 'a number of kept copies, an integer from 1 to 1000');

  const freeFloorMegabytes = integer(0, 1_048_576, 'a number of megabytes, an integer from 0 to 1048576');

  const keepDataDirectories = integer(1, 100, 'a number of data directories, an integer from 1 to 100');

  const maxSlotWalKeepSize = integer(64, 1_048_576, 'a size in MB, an integer from 64 to 1048576');

  const maxClockSkew = integer(1, 3600, 'a number of seconds, an integer from 1 to 3600');

  const CRON_FIELDS = [
    { min: 0, max: 59 }, // minute
    { min: 0, max: 23 }, // hour
    { min: 1, max: 31 }, // day of month
    { min: 1, max: 12 }, // month
    { min: 0, max: 7 }, // day of week (0 and 7 are Sunday)
  ];

  function isCronField(field: string, min: number, max: number): boolean {
    return field.split(',').every((item) => {
      const m = /^(?:(\*)|([0-9]{1,2})(?:-([0-9]{1,2}))?)(?:\/([0-9]{1,2}))?$/.exec(item);
      if (!m) return false;
      const [, star, low, high, step] = m;
      const inRange = (n: string | undefined) => n === undefined || (Number(n) >= min && Number(n) <= max);
      return (
        inRange(low) &&
        inRange(high) &&
        (high === undefined || Number(low) <= Number(high)) &&
        // A step applies to "*" or a range, and must move forward.
        (step === undefined || ((star !== undefined || high !== undefined) && Number(step) >= 1 && Number(step) <= max))
      );
    });
  }

  function isCronSchedule(s: string): boolean {
    const fields = s.split(' ');
    return fields.length === 5 && fields.every((f, i) => isCronField(f, CRON_FIELDS[i].min, CRON_FIELDS[i].max));
  }

  // Well-formed is not enough: "30 2 31 2 *" (31 February) is valid cron that never fires, and the
  // standby would silently never be refreshed. (zod runs this refinement even after the syntax one
  // failed, hence the guard.)
  const cronSchedule = text(
    'a cron schedule of five fields separated by single spaces (minute 0-59, hour 0-23, day of month 1-31, ' +
      'month 1-12, day of week 0-7), each "*", a number, a range a-b, a step */n or a-b/n, or a comma list of those',
    isCronSchedule,
  ).superRefine((s, ctx) => {
    const gap = isCronSchedule(s) ? yearWithoutRun(s) : undefined;
    if (!gap) return;
    const when = gap.nextAfter
      ? `does not fire in ${gap.year} (its next run after that: ${gap.nextAfter.toISOString().slice(0, 16).replace('T', ' ')} UTC)`
      : 'never fires';
    ctx.addIssue({ code: 'custom', message: `a cron schedule that fires at least once every year; this one ${when}` });
  });

  // rsyncd.conf(5): a section named "global" holds the daemon's global parameters, not a module;
  // rsync's loadparm.c compares that name ignoring case (strwicmp), whatever the man page says.
  // Names rsyncd treats otherwise specially ("#list", "]push", names with "/", "]" or spaces) are
  // already outside the characters allowed here.
  const rsyncModule = text(
    'an rsync module name: letters, digits, ".", "_" and "-", not starting with "-", and not "global" in any case ' +
      '(rsyncd.conf(5) reads a [global] section as the daemon\'s own settings)',
    (s) => /^[A-Za-z0-9._-]{1,255}$/.test(s) && !s.startsWith('-') && s.toLowerCase() !== 'global',
  );

  // The replication role's password travels only through stdin and 0600 files, never a command
  // line; still, nothing in it may mean anything to a shell, a libpq .pgpass line (":" and "\\") or SQL.
  const replicationPassword = text(
    'a password of 16 to 128 characters: letters, digits and "." "_" "~" "+" "/" "=" "-"',
    (s) => /^[A-Za-z0-9._~+\/=-]{16,128}$/.test(s),
  );

  // The pair's rsync password (model/peerTrust.ts): an HMAC-SHA256 in hex, made by the program.
  const peerPassword = text('an rsync password of the pair: 64 hexadecimal digits', (s) => /^[0-9a-f]{64}$/.test(s));

  const replicationMode = z.enum(['nightly', 'continuous'], {
    errorMap: () => ({ message: 'one of nightly (the runbook: a copy every night), continuous (PostgreSQL streaming replication)' }),
  });

  return { replicationPassword, peerPassword, replicationMode, rsyncModule, status, port, prefixLength, ipv4Address, hostnameOrIp, hostName, unixUser, HOST_KEY_TYPES, openSshPublicKey, openSshPrivateKey, interfaceName, interfaceLabel, absolutePath, databaseName, roleName, postgresqlVersion, clusterName, keepDays, runTimeout, keepCopies, freeFloorMegabytes, keepDataDirectories, maxSlotWalKeepSize, maxClockSkew, cronSchedule };
}

export type Grammar = ReturnType<typeof grammar>;
