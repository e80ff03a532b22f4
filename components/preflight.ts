// The preflight: before it declares anything, the program reads each host's own records and what its
// part in the switch needs, in one short SSH session per host. A host declared down gets the probe's
// short timeout (a dead host must not hold up an EMERGENCY), after an ARP probe from here when it is on
// a network of this machine: a dead LAN host answers no ARP, known in a fraction of a second. The
// others get the ordinary timeout.
import { execFile } from 'child_process';
import { lookup } from 'dns/promises';
import { isIP } from 'net';
import { promisify } from 'util';
import { StackConfig } from '../model/config';
import { GENERATION_DIR } from '../model/generation';
import { Pair } from '../model/pairs';
import { HostFacts, NEEDED_COMMANDS, Observation } from '../model/situation';
import { HOSTS, Host, STATUSES, Status } from '../model/statuses';
import { REPLICATE_COMMAND } from '../model/hostPaths';
import { hostScript } from '../providers/project';
import { CONNECT_TIMEOUT_MS, PROBE_TIMEOUT_MS, Runner, runOverSsh, script, sshTarget } from '../providers/ssh';

const OBSERVE = hostScript('observe.sh');

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
    mac: value.mac || undefined,
    lastReplication: value.lastcopy || undefined,
    // Only when the host was asked (older observers did not ask).
    ...(value.recovery === undefined ? {} : { inRecovery: value.recovery === 't' }),
  };
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
  try {
    const { stdout } = await run(sshTarget(config[host], config.sshPrivateKey),
      script(OBSERVE, config.serviceIp, config.serviceInterface, config.replication.database,
        config.replication.dumpDir, GENERATION_DIR, REPLICATE_COMMAND, ...NEEDED_COMMANDS),
      { connectTimeoutMs: timeout, timeoutMs: 5_000 });
    return { reachable: true, facts: parseFacts(stdout) };
  } catch (error) {
    return { reachable: false, error: (error as Error).message };
  }
}

/** Both hosts at once; `next` says which are declared down. */
export async function observeHosts(config: StackConfig, next: Pair, run: Runner = runOverSsh,
  arp: ArpProbe = probeArp): Promise<Record<Host, Observation>> {
  const [primary, secondary] = await Promise.all(HOSTS.map((h) => observe(config, h, next[h] === 'down', run, arp)));
  return { primary, secondary };
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
