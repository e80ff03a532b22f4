// The pair on one screen: who serves, who answers on the service IP now (asked afresh: the preflight's
// session on each host, duplicate-address detection from each host, the website from here), both
// hosts' statuses and records, the standby's last copy against the replication schedule, the checks
// the last up recorded and the last three switches. Exit 0 when all is well, 1 when something needs
// attention (the reasons are listed), 2 when the status itself could not be taken.
//
//   npm run status -- [--stack NAME] [--json]
import { parseArgs } from 'util';
import { checkPair, Host, HOSTS, Observation, otherHost, Pair, pairText, roleOf, samePair, StackConfig, Status } from '../model';
import { localTimeText, previousRun } from '../model/cron';
import { Operator } from '../components/operator';
import { observeHosts, PreflightFacts } from '../components/preflight';
import { continuousSettings, Slot, slotText, standbySlot } from '../model/continuous';
import { httpStatus, OTHERS_ANSWERING } from '../providers/serviceChecks';
import { closeConnections, runOverSsh, script, sshTarget } from '../providers/ssh';
import { Engine, PROJECT_DIR } from './engine';
import { ageText, HistoryRow, historyRows, switches } from './history';
import { stackConfigOf } from './replicateNow';

/** A nightly pull may wait an hour for its dump, then copy: a copy is late once this has passed since the schedule fired. */
export const COPY_GRACE_SECONDS = 2 * 3600;

export interface HostState {
  name: string;
  declared: Status;
  reachable: boolean;
  error?: string;
  status?: string;
  holdsServiceIp?: boolean;
  generations?: { switch: number; served: number; data: number };
  replicationRunning?: boolean;
  databaseReadOnly?: boolean;
  lastReplication?: string;
  /** Continuous mode, a hot standby: its WAL receiver ("streaming from <upstream>, <n> bytes not replayed"), or "not streaming". */
  streaming?: string;
  /** Continuous mode, the server: the replication slots it keeps for its standby. */
  slots?: Slot[];
}

export interface PairStatus {
  stack: string;
  at: string;
  declared: Pair;
  /** The pair the last successful up applied, its procedure and generation (stack outputs). */
  applied?: Pair;
  procedure?: string;
  generation?: number;
  serving?: string;
  serviceIp: {
    ip: string;
    /** Hosts with the address on an interface (`ip addr`). */
    configuredOn: string[];
    /**
     * Who else answered ARP for it, asked from each host that answered (duplicate-address detection: a
     * host never sees its own answer, so a server alone sees nobody): host names, or the MAC of a
     * machine that is neither.
     */
    answeredArp: string[];
    website: string;
  };
  hosts: HostState[];
  copy?: { on: string; stamp: string; ageSeconds?: number; schedule: string; dueSince?: string; late: boolean };
  /** The post-switch checks as the last up (or refresh) recorded them; those not ok. */
  checks: { recorded: number; failed: string[] };
  lastUpBy?: Operator;
  lastSwitches: HistoryRow[];
  attention: string[];
}

const ANSWERING = `ip=$1 dev=$2; ${OTHERS_ANSWERING}`;

/** Who answers ARP for the service IP, asked from every host that answered the preflight. */
async function arpAnswers(config: StackConfig, observed: Record<Host, Observation>): Promise<string[]> {
  const macs = await Promise.all(HOSTS.filter((h) => observed[h].reachable).map(async (h) =>
    (await runOverSsh(sshTarget(config[h], config.sshPrivateKey), script(ANSWERING, config.serviceIp, config.serviceInterface),
      { timeoutMs: 5_000 })).stdout.trim().split(/\s+/).filter(Boolean)));
  const names = new Map(HOSTS.flatMap((h) => {
    const o = observed[h];
    return o.reachable && o.facts.mac ? [[o.facts.mac.toLowerCase(), config[h].name] as const] : [];
  }));
  return [...new Set(macs.flat().map((mac) => names.get(mac.toLowerCase()) ?? `unknown machine ${mac}`))].sort();
}

function copyState(config: StackConfig, applied: Pair, state: Record<Host, HostState>, recorded: string | undefined, now: Date) {
  const receiver = HOSTS.find((h) => roleOf(applied[h]).replicatesFromOther);
  const holder = receiver ?? HOSTS.find((h) => roleOf(applied[h]).servesApplication);
  if (!holder) return undefined;
  const stamp = state[holder].lastReplication ?? recorded ?? 'never';
  const taken = Date.parse(stamp.split(' ')[0]);
  const ageSeconds = Number.isNaN(taken) ? undefined : (now.getTime() - taken) / 1000;
  // Only a pair with a standby replicates; alone, the stamp is what an EMERGENCY would lose, not a lateness.
  const due = receiver ? previousRun(config.replication.schedule, new Date(now.getTime() - COPY_GRACE_SECONDS * 1000)) : undefined;
  const late = due !== undefined && (Number.isNaN(taken) || taken < due.getTime());
  return { on: config[holder].name, stamp, ageSeconds, schedule: config.replication.schedule, dueSince: due?.toISOString(), late };
}

export async function pairStatus(engine: Engine): Promise<PairStatus> {
  const [config, outputs, history] = await Promise.all([stackConfigOf(engine),
    engine.run(['stack', 'output', '--json'], { allowFailure: true }), engine.history()]);
  const out = (outputs.code === 0 ? JSON.parse(outputs.stdout) : {}) as {
    pair?: Pair; generation?: number; serving?: string; checks?: Record<string, string>;
    lastReplication?: string; operator?: Operator;
  };
  const declared = { primary: config.primaryStatus, secondary: config.secondaryStatus };
  const now = new Date();
  let observed: Record<Host, Observation>;
  let answeredArp: string[];
  let website: string;
  try {
    observed = await observeHosts(config, declared);
    [answeredArp, website] = await Promise.all([arpAnswers(config, observed), httpStatus(config.serviceIp, config.ports.website)]);
  } finally {
    await closeConnections();
  }
  const continuous = continuousSettings(config).mode === 'continuous';
  const state = Object.fromEntries(HOSTS.map((h): [Host, HostState] => {
    const o = observed[h];
    const base = { name: config[h].name, declared: declared[h] };
    if (!o.reachable) return [h, { ...base, reachable: false, error: o.error }];
    const f = o.facts as PreflightFacts;
    return [h, { ...base, reachable: true, status: f.status ?? '(none)', holdsServiceIp: f.holdsServiceIp, generations: f.record,
      replicationRunning: f.replicationRunning, databaseReadOnly: f.databaseReadOnly, lastReplication: f.lastReplication,
      ...(continuous && f.inRecovery ? { streaming: f.walReceiver || 'not streaming' } : {}),
      ...(continuous && f.inRecovery === false && f.slots ? { slots: f.slots } : {}) }];
  })) as Record<Host, HostState>;
  const configuredOn = HOSTS.filter((h) => state[h].holdsServiceIp).map((h) => config[h].name);
  const applied = out.pair;
  const copy = copyState(config, applied ?? declared, state, out.lastReplication, now);
  const failed = Object.entries(out.checks ?? {}).filter(([, r]) => r !== 'ok').map(([name, r]) => `${name}: ${r}`);

  const attention: string[] = [];
  const holders = [...new Set([...configuredOn, ...answeredArp])];
  if (holders.length > 1) attention.push(`two holders: the service IP ${config.serviceIp} is held by ${holders.join(' and ')}`);
  if (holders.length === 0) attention.push(`nobody holds the service IP ${config.serviceIp}`);
  if (holders.length === 1 && out.serving && holders[0] !== out.serving) {
    attention.push(`${holders[0]} holds the service IP, but the stack says ${out.serving} serves`);
  }
  if (website !== 'ok') attention.push(`the website on ${config.serviceIp}:${config.ports.website}: ${website}`);
  for (const f of failed) attention.push(`check ${f}`);
  // Continuous mode: the database streams (the nightly stamp says nothing); a standby that does not stream falls behind for good.
  if (continuous) {
    for (const h of HOSTS) {
      const st = state[h];
      if (roleOf(st.declared).replicatesFromOther && st.reachable && !(st.streaming ?? '').startsWith('streaming')) {
        attention.push(`${st.name} does not stream from its server (${st.streaming ?? 'not a hot standby'})`);
      }
      // Its slot on the server: lost, it can never stream again without a rebuild.
      const server = state[otherHost(h)];
      const slot = server.slots?.find((s) => s.name === standbySlot(st.name));
      if (roleOf(st.declared).replicatesFromOther && server.reachable && server.slots && slot?.walStatus !== 'reserved' && slot?.walStatus !== 'extended') {
        attention.push(`${server.name}: ${slotText(slot, standbySlot(st.name))}` + (slot?.walStatus === 'lost'
          ? `: ${st.name} fell further behind than sounz:replication.maxSlotWalKeepSize and needs a rebuild` : ''));
      }
    }
  }
  if (copy?.late && !continuous) attention.push(`the last copy on ${copy.on} (${copy.stamp}) is older than the schedule "${copy.schedule}" allows (due since ${copy.dueSince})`);
  for (const h of HOSTS) {
    const s = state[h];
    if (!s.reachable && s.declared !== 'down') attention.push(`${s.name} does not answer: ${s.error}`);
    if (s.reachable && s.status !== s.declared) attention.push(`${s.name}'s status file says ${s.status}, the config declares ${s.declared}`);
    if (s.databaseReadOnly && roleOf(s.declared).servesApplication) attention.push(`${s.name}'s database is read-only`);
  }
  if (applied && !samePair(applied, declared)) {
    attention.push(`the config declares ${pairText(declared)}, the stack last applied ${pairText(applied)}: finish the switch (pulumi up)`);
  }
  if (!checkPair(declared.primary, declared.secondary).ok) attention.push(`the config declares ${pairText(declared)}, which the runbook does not allow`);

  return {
    stack: engine.stack,
    at: now.toISOString(),
    declared,
    applied,
    // Of the pair applied (the output `procedure` is what the last run did: "no change" after a no-op).
    procedure: applied && checkPair(applied.primary, applied.secondary).ok
      ? (checkPair(applied.primary, applied.secondary) as { procedure: string }).procedure : undefined,
    generation: out.generation,
    serving: out.serving,
    serviceIp: { ip: config.serviceIp, configuredOn, answeredArp, website },
    hosts: HOSTS.map((h) => state[h]),
    copy,
    checks: { recorded: Object.keys(out.checks ?? {}).length, failed },
    lastUpBy: out.operator,
    lastSwitches: switches(historyRows(history, out)).slice(0, 3),
    attention,
  };
}

export function statusScreen(s: PairStatus): string {
  const lines = [`stack ${s.stack}, ${localTimeText(new Date(s.at))}`];
  const row = (label: string, text: string) => lines.push(`${label.padEnd(12)}${text}`);
  row('serving', `${s.serving ?? '?'} (${s.procedure ?? 'no up yet'}, generation ${s.generation ?? '?'}, ` +
    `applied ${s.applied ? pairText(s.applied) : 'nothing'}${s.applied && !samePair(s.applied, s.declared) ? `, declared ${pairText(s.declared)}` : ''})`);
  row('service IP', `${s.serviceIp.ip} on ${s.serviceIp.configuredOn.join(', ') || 'no host'}; ARP answered by ` +
    `${s.serviceIp.answeredArp.join(', ') || 'nobody'}; website ${s.serviceIp.website}`);
  for (const h of s.hosts) {
    row(h.name, h.reachable
      ? `${h.status}${h.holdsServiceIp ? ', holds the service IP' : ''}; generations switch ${h.generations!.switch} served ` +
        `${h.generations!.served} data ${h.generations!.data}; last copy received ${h.lastReplication ?? '?'}` +
        `${h.replicationRunning ? '; replication running' : ''}${h.databaseReadOnly ? '; database read-only' : ''}` +
        `${h.streaming ? `; ${h.streaming}` : ''}${(h.slots ?? []).map((slot) => `; ${slotText(slot, slot.name)}`).join('')}`
      : `does not answer (declared ${h.declared}): ${h.error}`);
  }
  row('last copy', s.copy
    ? `${s.copy.stamp} on ${s.copy.on}${s.copy.ageSeconds === undefined ? '' : `, ${ageText(s.copy.ageSeconds)} old`}` +
      (s.copy.dueSince ? `; schedule "${s.copy.schedule}" wants one since ${s.copy.dueSince}${s.copy.late ? ': LATE' : ''}`
        : ': nothing replicates (no standby)')
    : '?');
  row('checks', s.checks.failed.length ? `${s.checks.failed.length} of ${s.checks.recorded} failed: ${s.checks.failed.join('; ')}`
    : `${s.checks.recorded} ok (as the last up recorded them)`);
  if (s.lastUpBy) row('last up by', `${s.lastUpBy.user} key ${s.lastUpBy.key}`);
  row('switches', s.lastSwitches.length ? '' : 'none yet');
  for (const w of s.lastSwitches) {
    lines.push(`  ${w.when.replace(/\.\d+Z$|Z$/, '')}  ${w.procedure}  ${pairText(w.before!)} -> ${pairText(w.after!)}  ${w.result}  by ${w.who}: ${w.reason}`);
  }
  row('attention', s.attention.length ? '' : 'nothing');
  for (const a of s.attention) lines.push(`  - ${a}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { stack: { type: 'string' }, json: { type: 'boolean', default: false } } });
  const engine = new Engine({ projectDir: PROJECT_DIR, stack: values.stack ?? process.env.PULUMI_STACK ?? 'primary', ambient: true });
  const status = await pairStatus(engine);
  console.log(values.json ? JSON.stringify(status, null, 2) : statusScreen(status));
  process.exitCode = status.attention.length ? 1 : 0;
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(2);
  });
}
