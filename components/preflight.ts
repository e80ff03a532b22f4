// The preflight: before it declares anything, the program reads each host's own records and what its
// part in the switch needs, in one short SSH session per host. A host declared down gets the probe's
// short timeout (a dead host must not hold up an EMERGENCY), after an ARP probe from here when it is on
// a network of this machine: a dead LAN host answers no ARP, known in a fraction of a second. The
// others get the ordinary timeout.
import { execFile } from 'child_process';
import { lookup } from 'dns/promises';
import { isIP } from 'net';
import { promisify } from 'util';
import { postgresqlCluster, StackConfig } from '../model/config';
import { continuousSettings, parseSlots, Slot, slotText, standbySlot } from '../model/continuous';
import { GENERATION_DIR } from '../model/generation';
import { Pair, servingHost } from '../model/pairs';
import { HostFacts, LastApplied, NEEDED_COMMANDS, Observation } from '../model/situation';
import { HOSTS, Host, STATUSES, Status, otherHost } from '../model/statuses';
import { REPLICATE_COMMAND } from '../model/hostPaths';
import { hostScript } from '../providers/project';
import { CONNECT_TIMEOUT_MS, PROBE_TIMEOUT_MS, Runner, runOverSsh, script, sshTarget } from '../providers/ssh';

const OBSERVE = hostScript('cluster.sh') + hostScript('observe.sh');

/** The facts in the observation's key=value lines. */
export function parseFacts(stdout: string): HostFacts {
  const value = Object.fromEntries(stdout.split('\n').map((line) => {
    const at = line.indexOf('=');
    return [line.slice(0, at), line.slice(at + 1).trim()];
  }));
  const count = (key: string) => Number.parseInt(value[key] ?? '', 10) || 0;
  const words = (key: string) => (value[key] ?? '').split(/\s+/).filter(Boolean);
  return {
    status: STATUSES.includes(value.status as Status) ? value.status as Status : undefined,
    record: { switch: count('switch'), served: count('served'), data: count('data') },
    holdsServiceIp: value.held === 'yes',
    databaseReadOnly: count('readonly') > 0,
    interfaceAddresses: words('addresses'),
    missingCommands: words('missing'),
    replicationRunning: value.replication === 'running',
    databaseBytes: /^\d+$/.test(value.database ?? '') ? Number(value.database) : undefined,
    freeBytes: count('free'),
    ...(/^\d+$/.test(value.pgfree ?? '') ? { postgresFreeBytes: Number(value.pgfree) } : {}),
    mac: value.mac || undefined,
    lastReplication: value.lastcopy || undefined,
    // Only when the host was asked (older observers did not ask).
    ...(value.recovery === undefined ? {} : { inRecovery: value.recovery === 't' }),
    ...(value.replication_holder ? { replicationHolder: value.replication_holder } : {}),
  };
}

/**
 * The records of a host with a status file that are not a number, each naming its file and what it holds;
 * `deployed`: the program has written records there (any of the three exists). A runbook host the
 * program never touched has a status file and no records at all.
 */
export function recordFaults(stdout: string): { faults: string[]; deployed: boolean } {
  const value = Object.fromEntries(stdout.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1).trim()]));
  if (value.deployed !== 'yes') return { faults: [], deployed: false };
  const keys = ['switch', 'served', 'data'] as const;
  const faults = keys.filter((k) => !/^\d+$/.test(value[k] ?? '')).map((k) => {
    const seen = value[k] ?? '<missing>';
    const what = seen === '<missing>' ? 'is missing' : seen === '<unreadable>' ? 'cannot be read' : `holds "${seen}", not a generation number`;
    return `${GENERATION_DIR}/${k} ${what}`;
  });
  return { faults, deployed: keys.some((k) => (value[k] ?? '<missing>') !== '<missing>') };
}

/** The host's clock against the operator's at the midpoint of the SSH round trip, give or take half of it. */
export interface ClockReading {
  hostSeconds: number;
  operatorSeconds: number;
  uncertaintySeconds: number;
}

/** What observe() adds to the facts: a deployed host's unreadable records, its clock. */
export interface PreflightFacts extends HostFacts {
  recordFaults: string[];
  /** The program has written generation records on the host. */
  recordsWritten: boolean;
  clock?: ClockReading;
  /** A hot standby's WAL receiver: "streaming from <upstream>, <n> bytes not replayed"; empty when none runs. */
  walReceiver?: string;
  /** A hot standby's last replayed commit (ISO, UTC); empty when it has replayed none or is not a standby. */
  lastReplayed?: string;
  /** The PostgreSQL cluster of sounz:postgresql as found there ("15/main postgresql-common port 5432 <data directory>"), or "missing: ..." */
  cluster?: string;
  /** The replication slots this host keeps for a standby (continuous mode), when it was asked. */
  slots?: Slot[];
}

/** Whether a host answers ARP from here: undefined when that cannot tell (routed, no arping, no permission). */
export type ArpProbe = (address: string) => Promise<boolean | undefined>;

/**
 * Three ARP requests, each given 0.15 s (0.45 s in all): a live host on the LAN answers the first within
 * milliseconds. (This arping takes whole seconds only, for its interval and deadline alike, so each
 * request is its own arping, ended by us.)
 */
export const ARP_PROBE = { attempts: 3, attemptMs: 150 };

export const probeArp: ArpProbe = async (address) => {
  const run = promisify(execFile);
  try {
    const ip = isIP(address) ? address : (await lookup(address, { family: 4 })).address;
    // Only a host on a network of this machine's own answers ARP here; behind a router it cannot tell.
    const route = (await run('ip', ['-o', 'route', 'get', ip])).stdout;
    const dev = / dev (\S+)/.exec(route)?.[1];
    if (!dev || / via /.test(route) || /^local /.test(route)) return undefined;
    for (let attempt = 0; attempt < ARP_PROBE.attempts; attempt++) {
      const outcome = await run('arping', ['-q', '-c', '1', '-w', '1', '-I', dev, ip], { timeout: ARP_PROBE.attemptMs })
        .then(() => 'answered', (error: { killed?: boolean }) => (error.killed ? 'silent' : 'unknown'));
      if (outcome === 'answered') return true;
      // Any other end (no arping, no permission, a refused argument) says nothing about the host.
      if (outcome === 'unknown') return undefined;
    }
    return false;
  } catch {
    return undefined;
  }
};

async function observe(config: StackConfig, host: Host, declaredDown: boolean, run: Runner, arp: ArpProbe): Promise<Observation> {
  const timeout = declaredDown ? PROBE_TIMEOUT_MS : CONNECT_TIMEOUT_MS;
  // A host that answers ARP but not SSH (sshd hung, the kernel alive) still gets the SSH probe's whole timeout.
  if (declaredDown && (await arp(config[host].address)) === false) {
    return { reachable: false, error: `${config[host].name}: no ARP answer from ${config[host].address} within ${(ARP_PROBE.attempts * ARP_PROBE.attemptMs) / 1000} s` };
  }
  const pg = postgresqlCluster(config);
  try {
    const sent = Date.now();
    const { stdout } = await run(sshTarget(config[host], config.sshPrivateKey),
      script(OBSERVE, config.serviceIp, config.serviceInterface, config.replication.database,
        config.replication.dumpDir, GENERATION_DIR, REPLICATE_COMMAND, pg.version, pg.cluster, String(pg.port), ...NEEDED_COMMANDS),
      { connectTimeoutMs: timeout, timeoutMs: 5_000 });
    const back = Date.now();
    const hostSeconds = Number(/^clock=(\d+(?:\.\d+)?)$/m.exec(stdout)?.[1] ?? NaN);
    const clock = Number.isFinite(hostSeconds)
      ? { hostSeconds, operatorSeconds: (sent + back) / 2000, uncertaintySeconds: (back - sent) / 2000 } : undefined;
    const receiver = /^receiver=(.*)$/m.exec(stdout)?.[1].trim();
    const cluster = /^cluster=(.*)$/m.exec(stdout)?.[1].trim();
    const replayed = /^replayed=(.*)$/m.exec(stdout)?.[1].trim();
    const slots = /^slots=(.*)$/m.exec(stdout)?.[1];
    const { faults, deployed } = recordFaults(stdout);
    const facts: PreflightFacts = { ...parseFacts(stdout), recordFaults: faults, recordsWritten: deployed, ...(clock ? { clock } : {}),
      ...(receiver === undefined ? {} : { walReceiver: receiver }), ...(replayed ? { lastReplayed: replayed } : {}), ...(cluster === undefined ? {} : { cluster }), ...(slots === undefined ? {} : { slots: parseSlots(slots) }) };
    return { reachable: true, facts };
  } catch (error) {
    return { reachable: false, error: (error as Error).message };
  }
}

/**
 * One host's answer to the preflight, in a line: the first lines an operator watching a switch sees
 * (ops/progress.ts). A hot standby's stream and last replayed commit say, before an EMERGENCY promotes
 * it, from when the dead server's writes are lost.
 */
export function observationText(name: string, seen: Observation): string {
  if (!seen.reachable) return `${name} did not answer: ${seen.error}`;
  const { status, record, holdsServiceIp, inRecovery, walReceiver, lastReplayed } = seen.facts as PreflightFacts;
  const standby = inRecovery !== true ? ''
    : `, a hot standby (WAL receiver: ${walReceiver || 'none running'}; last replayed commit ${lastReplayed ?? 'none'})`;
  return `${name} answered: status ${status ?? '(none)'}, generations switch ${record.switch} served ${record.served} data ${record.data}` +
    `${holdsServiceIp ? ', holds the service IP' : ''}${standby}`;
}

/** Both hosts at once; `next` says which are declared down. */
export async function observeHosts(config: StackConfig, next: Pair, run: Runner = runOverSsh,
  arp: ArpProbe = probeArp): Promise<Record<Host, Observation>> {
  const [primary, secondary] = await Promise.all(HOSTS.map((h) => observe(config, h, next[h] === 'down', run, arp)));
  return { primary, secondary };
}

/** sounz:maxClockSkew when not set: seconds. */
export const MAX_CLOCK_SKEW_DEFAULT = 30;

/** The Debian package of each command a host's part may need, for the refusal's fix. */
const PACKAGE_OF: Record<string, string> = {
  ip: 'iproute2', arping: 'iputils-arping', rsync: 'rsync', pg_dump: 'postgresql-client', pg_restore: 'postgresql-client',
  psql: 'postgresql-client', runuser: 'util-linux', flock: 'util-linux', ss: 'iproute2', timeout: 'coreutils',
};

const utc = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * What the preflight itself refuses, before any plan, for each host with a part in the up (not declared
 * down): a deployed host whose generation records are missing or unreadable (read as 0 they would make
 * it the older server), a clock beyond sounz:maxClockSkew from the operator's, a command its part needs.
 */
export function preflightRefusal(config: StackConfig, next: Pair, observed: Record<Host, Observation>,
  last: LastApplied | undefined): { reason: string; suggestion: string } | undefined {
  const maxSkew = config.maxClockSkew ?? MAX_CLOCK_SKEW_DEFAULT;
  for (const h of HOSTS) {
    const seen = observed[h];
    if (next[h] === 'down' || !seen.reachable) continue;
    const facts = seen.facts as Partial<PreflightFacts>;
    const name = config[h].name;
    const peer = otherHost(h);
    const recorded = last?.records?.[h];
    // Deployed by this program: it wrote records there, or this stack's last up recorded them.
    const faults = facts.recordsWritten || recorded ? facts.recordFaults ?? [] : [];
    if (faults.length > 0) {
      const peerSeen = observed[peer];
      const peerRecord = peerSeen.reachable && (peerSeen.facts as Partial<PreflightFacts>).recordFaults?.length === 0 ? peerSeen.facts.record : undefined;
      const restore = (faults.map((f) => f.split(' ')[0].split('/').pop() as 'switch' | 'served' | 'data'))
        .map((k) => recorded ? `echo ${recorded[k]} >${GENERATION_DIR}/${k}` : `echo <${k}> >${GENERATION_DIR}/${k}`);
      return {
        reason: `preflight: ${name} has been deployed by this program (its records, or this stack's) but ${faults.join(', ')}: ` +
          'read as 0 it would make the wrong host count as the one with the newest data',
        suggestion: `restore it on ${name}: ${restore.join('; ')}` + (recorded
          ? ` (the values this stack's last up recorded for ${name}, its output "records"; check with pulumi stack history)`
          : ` with the values from the output "records" of the last up (pulumi stack history --show-secrets, or pulumi stack output records)`) +
          (peerRecord ? `; ${config[peer].name} records switch ${peerRecord.switch}, served ${peerRecord.served}, data ${peerRecord.data}` +
            ` (a host that took part in the same switch has the same "switch"; "data" is the peer's after a complete copy)` : '') +
          '. Then run it again; nothing has changed',
      };
    }
    if (facts.clock) {
      const { hostSeconds, operatorSeconds, uncertaintySeconds } = facts.clock;
      const skew = hostSeconds - operatorSeconds;
      if (Math.abs(skew) - uncertaintySeconds > maxSkew) {
        return {
          reason: `preflight: the clock of ${name} says ${utc(hostSeconds)} while this machine's says ${utc(operatorSeconds)} ` +
            `(${Math.abs(skew).toFixed(1)} s ${skew > 0 ? 'ahead' : 'behind'}, give or take ${uncertaintySeconds.toFixed(1)} s), more than ` +
            `sounz:maxClockSkew (${maxSkew} s): the nightly copy and the final grab compare the hosts' clocks`,
          suggestion: `set the clocks right with NTP (Debian: apt install systemd-timesyncd or chrony on ${name} and on this machine), ` +
            'then run it again; nothing has changed',
        };
      }
    }
    // Continuous mode: a planned switch (the peer not declared down) to a hot standby whose slot the server
    // lost (it fell further behind than sounz:replication.maxSlotWalKeepSize), or that does not stream,
    // would promote it without the old server's last writes.
    const planned = continuousSettings(config).mode === 'continuous' && servingHost(next) === h && next[peer] !== 'down'
      && facts.inRecovery === true;
    const peerSeen = observed[peer];
    const slot = peerSeen.reachable ? (peerSeen.facts as Partial<PreflightFacts>).slots?.find((s) => s.name === standbySlot(name)) : undefined;
    if (planned && slot?.walStatus === 'lost') {
      return {
        reason: `preflight: ${config[peer].name} lost the replication slot of its standby ${name} (${slotText(slot, slot.name)}): ` +
          `${name} fell further behind than sounz:replication.maxSlotWalKeepSize and can no longer stream; a planned switch to it would ` +
          `promote it without ${config[peer].name}'s writes since`,
        suggestion: `rebuild ${name} from ${config[peer].name} (declare it down and pulumi up, then standby again and pulumi up: it ` +
          `returns by a base backup), then run the switch again; nothing has changed. If ${config[peer].name} is dead: ` +
          `npm run switch -- emergency ${config[peer].name} (it promotes what ${name} has)`,
      };
    }
    if (planned && !(facts.walReceiver ?? '').startsWith('streaming')) {
      return {
        reason: `preflight: ${name} is a hot standby that does not stream from ${config[peer].name} ` +
          `(WAL receiver: ${facts.walReceiver || 'none running'}): a planned switch to it would promote it without ${config[peer].name}'s last writes`,
        suggestion: `make ${name} stream again (see its PostgreSQL log and primary_conninfo), then run the switch again; ` +
          `nothing has changed. If ${config[peer].name} is dead: npm run switch -- emergency ${config[peer].name} (it promotes what ${name} has)`,
      };
    }
    if (facts.cluster?.startsWith('missing: ')) {
      const { version, cluster, port } = postgresqlCluster(config);
      return {
        reason: `preflight: ${name} has no PostgreSQL cluster ${version}/${cluster} on port ${port} (sounz:postgresql): ${facts.cluster.slice('missing: '.length)}`,
        suggestion: `set sounz:postgresql to the cluster ${name} runs (pulumi config set --path 'sounz:postgresql.version' <version>, ` +
          `likewise .cluster and .port; pg_lsclusters on ${name} lists them), or make that cluster there (Debian: apt install ` +
          `postgresql-${version}, or pg_createcluster ${version} ${cluster}), then run it again; nothing has changed`,
      };
    }
    if (facts.missingCommands && facts.missingCommands.length > 0) {
      const packages = [...new Set(facts.missingCommands.map((c) => PACKAGE_OF[c] ?? c))];
      return {
        reason: `preflight: ${name} lacks commands its part needs: ${facts.missingCommands.join(', ')}`,
        suggestion: `install them on ${name} (Debian: apt install ${packages.join(' ')}) and run it again; nothing has changed`,
      };
    }
  }
  return undefined;
}

/** How the program takes its preflight: observeHosts, or one an operator command started earlier. */
export type Preflight = (config: StackConfig, next: Pair) => Promise<Record<Host, Observation>>;

/**
 * The preflight started now, before the engine is up (the operator commands, which run the program in
 * their own process): the program takes it when it asks for the very same config and pair, else it
 * observes afresh, once `onOther` has heard of the other config.
 */
export function startPreflight(config: StackConfig, next: Pair, observe: Preflight = observeHosts, onOther?: (config: StackConfig) => void): Preflight {
  const key = JSON.stringify([config, next]);
  const started = observe(config, next);
  return (c, n) => {
    if (JSON.stringify([c, n]) === key) return started;
    onOther?.(c);
    return observe(c, n);
  };
}
