// The audit trail as a table: every update and refresh of the stack, newest first, from
// `pulumi stack history --json` (when, result, duration, the config each ran with) and the message
// the operator commands write (who, procedure, reason, the last copy as the stack recorded it then).
//
//   npm run history -- [--stack NAME] [--json]
import { parseArgs } from 'util';
import { checkPair, HOSTS, Pair, roleOf, samePair, STATUSES, Status } from '../model';
import { Operator, parseAuditMessage } from '../components/operator';
import { Engine, HistoryEntry, PROJECT_DIR } from './engine';

export interface HistoryRow {
  /** 1 for the oldest update. */
  version: number;
  kind: string;
  /** ISO time the update started. */
  when: string;
  /** `user@machine key SHA256:...`, or why it is not known. */
  who: string;
  procedure: string;
  /** The pair the last successful update before this one applied, and the pair this one declared. */
  before?: Pair;
  after?: Pair;
  reason: string;
  result: string;
  seconds?: number;
  /** What the switch risked losing (README: "The operator's day"); empty when nothing switched. */
  risked: string;
}

function pairOf(entry: HistoryEntry): Pair | undefined {
  const status = (key: string) => entry.config?.[`sounz:${key}Status`]?.value as Status | undefined;
  const pair = { primary: status('primary'), secondary: status('secondary') };
  return pair.primary && pair.secondary && STATUSES.includes(pair.primary) && STATUSES.includes(pair.secondary)
    ? pair as Pair : undefined;
}

const servingOf = (pair: Pair) => HOSTS.find((h) => roleOf(pair[h]).servesApplication);

/** "4h 12min", from seconds. */
export function ageText(seconds: number): string {
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** The data a switch from `before` to `after` risked, as the message recorded the last copy then. */
function riskOf(procedure: string, before: Pair, after: Pair, startTime: string, lastCopy: string | undefined): string {
  const from = servingOf(before);
  if (from === undefined || from === servingOf(after)) return 'none: the server stays';
  if (procedure !== 'EMERGENCY') return 'none: the final grab is mandatory';
  const taken = lastCopy ? Date.parse(lastCopy.split(' ')[0]) : Number.NaN;
  if (Number.isNaN(taken)) return `the old server's writes since the last copy (${lastCopy ?? 'not recorded'}), unless the grab took them`;
  return `up to ${ageText((Date.parse(startTime) - taken) / 1000)} of writes (last copy ${lastCopy}), unless the grab took them`;
}

/** What the stack's outputs say of the newest up: who ran it (`operator`) and the copy its server holds (`lastReplication`). */
export interface LatestOutputs {
  operator?: Operator;
  lastReplication?: string;
}

/**
 * Rows from the history (newest first). A message without the operator or the last copy (a plain
 * `pulumi up`; a `switch --yes`, which does not wait to read the copy) takes them, for the newest up
 * only, from the stack's outputs, marked so.
 */
export function historyRows(history: HistoryEntry[], latest: LatestOutputs = {}): HistoryRow[] {
  // The diy backends number no update (`version` is 0): the CLI lists them newest first.
  const oldestFirst = [...history].reverse();
  const newestUp = oldestFirst.filter((e) => e.kind === 'update' && e.result === 'succeeded').at(-1);
  let applied: Pair | undefined;
  const rows = oldestFirst.map((entry, index): HistoryRow => {
    const parsed = parseAuditMessage(entry.message);
    const declared = pairOf(entry);
    const before = applied;
    const after = entry.kind === 'update' ? declared : applied;
    const switched = entry.kind === 'update' && before !== undefined && after !== undefined && !samePair(before, after);
    const procedure = parsed.procedure ??
      (entry.kind === 'update' && after && checkPair(after.primary, after.secondary).ok
        ? (checkPair(after.primary, after.secondary) as { procedure: string }).procedure : entry.kind);
    const operator = parsed.operator ?? (entry === newestUp ? latest.operator : undefined);
    const lastCopy = parsed.lastCopy ?? (entry === newestUp && latest.lastReplication ? `${latest.lastReplication} (stack outputs)` : undefined);
    const who = operator ? `${operator.user} key ${operator.key}${parsed.operator ? '' : ' (stack outputs)'}`
      : `not recorded (plain pulumi ${entry.kind})`;
    if (entry.kind === 'update' && entry.result === 'succeeded' && declared) applied = declared;
    return {
      version: index + 1,
      kind: entry.kind,
      when: entry.startTime,
      who,
      procedure,
      before,
      after,
      reason: parsed.reason,
      result: entry.result,
      seconds: entry.endTime ? (Date.parse(entry.endTime) - Date.parse(entry.startTime)) / 1000 : undefined,
      risked: switched ? riskOf(procedure, before!, after!, entry.startTime, lastCopy) : '',
    };
  });
  return rows.reverse();
}

/** The rows whose update moved the pair (or tried to), newest first. */
export function switches(rows: HistoryRow[]): HistoryRow[] {
  return rows.filter((r) => r.kind === 'update' && r.before && r.after && !samePair(r.before, r.after));
}

const pairShort = (pair?: Pair) => (pair ? `${pair.primary}/${pair.secondary}` : '?');

/** Fixed-width columns, one line per row. */
export function historyTable(rows: HistoryRow[]): string {
  const header = ['#', 'when (UTC)', 'who', 'procedure', 'pair before -> after', 'reason', 'result', 'duration', 'risked'];
  const cells = rows.map((r) => [String(r.version), r.when.replace('T', ' ').replace(/(\.\d+)?Z$/, ''), r.who, r.procedure,
    r.before && r.after && samePair(r.before, r.after) ? pairShort(r.after) : `${pairShort(r.before)} -> ${pairShort(r.after)}`,
    r.reason, r.result, r.seconds === undefined ? '' : `${r.seconds.toFixed(0)} s`, r.risked]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  return [header, ...cells].map((line) => line.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { stack: { type: 'string' }, json: { type: 'boolean', default: false } } });
  const engine = new Engine({ projectDir: PROJECT_DIR, stack: values.stack ?? process.env.PULUMI_STACK ?? 'primary', ambient: true });
  const [history, outputs] = await Promise.all([engine.history(),
    engine.run(['stack', 'output', '--json'], { allowFailure: true })]);
  const rows = historyRows(history, outputs.code === 0 ? JSON.parse(outputs.stdout) as LatestOutputs : {});
  console.log(values.json ? JSON.stringify(rows, null, 2) : historyTable(rows));
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(2);
  });
}
