/**
 * What `sounz:replication.mode: continuous` means for each host of a plan: PostgreSQL streaming
 * replication from the host that serves to its standby instead of the nightly dump and restore,
 * and the data areas and Apollo index pulled on their own (shorter) schedule. The planner's grab
 * (transitions.ts) keeps its meaning, "the latest data of the old server reaches the new one", and
 * becomes a handover (the old server stops writing, the standby replays its last write, then is
 * promoted) or, for a host returning from down, a rebuild from the server.
 */
import type { ReplicationMode, StackConfig } from './config';
import type { Pair } from './pairs';
import type { Situation, UpPlan } from './situation';
import type { SwitchPlan } from './transitions';
import { HOSTS, Host, CronJob, otherHost, roleOf } from './statuses';

export type { ReplicationMode };

/**
 * `sounz:replication.mode`, `.filesSchedule`, `.keepDataDirectories` and `.maxSlotWalKeepSize` when not set:
 * the runbook's nightly copy; files every 5 minutes; 3 data directories kept aside by rebuilds; the
 * server keeps at most 1024 MB of WAL for a standby that does not take it.
 */
export const REPLICATION_MODE_DEFAULTS = { mode: 'nightly' as ReplicationMode, filesSchedule: '*/5 * * * *', keepDataDirectories: 3,
  maxSlotWalKeepSize: 1024 };

/** The replication mode, the files' schedule, how many kept data directories stay and the slot's bound, with their defaults. */
export function continuousSettings(config: StackConfig): typeof REPLICATION_MODE_DEFAULTS {
  const { mode = REPLICATION_MODE_DEFAULTS.mode, filesSchedule = REPLICATION_MODE_DEFAULTS.filesSchedule,
    keepDataDirectories = REPLICATION_MODE_DEFAULTS.keepDataDirectories,
    maxSlotWalKeepSize = REPLICATION_MODE_DEFAULTS.maxSlotWalKeepSize } = config.replication;
  return { mode, filesSchedule, keepDataDirectories, maxSlotWalKeepSize };
}

/**
 * The physical replication slot the server keeps for a standby, named for it (a slot name takes
 * a-z, 0-9 and "_", at most 63): the server keeps the WAL the standby has not received, so that it
 * cannot fall off silently, up to sounz:replication.maxSlotWalKeepSize; beyond that the slot is lost
 * and the standby needs a rebuild.
 */
export function standbySlot(hostName: string): string {
  return `sounz_${hostName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** A replication slot as the server reports it. */
export interface Slot {
  name: string;
  /** A standby streams through it now. */
  active: boolean;
  /** PostgreSQL's wal_status: reserved, extended, unreserved, or lost (the WAL it needed is gone: the standby needs a rebuild). */
  walStatus: string;
  /** WAL bytes the server keeps for it (its position to the server's), null when unknown. */
  retainedBytes: number | null;
}

/** Slot lines "<name> <true|false: active> <wal_status> <retained bytes or ?>", separated by newlines or commas. */
export function parseSlots(text: string): Slot[] {
  return text.split(/[\n,]/).map((line) => line.trim().split(/\s+/)).filter((words) => words.length === 4 && words[0] !== '')
    .map(([name, active, walStatus, retained]) => ({ name, active: active === 'true', walStatus,
      retainedBytes: /^\d+$/.test(retained) ? Number(retained) : null }));
}

/** A slot in words, for the status and the preflight. */
export function slotText(slot: Slot | undefined, name: string): string {
  if (!slot) return `no replication slot ${name} on the server`;
  return `slot ${slot.name} ${slot.active ? 'active' : 'inactive'}, wal_status ${slot.walStatus}` +
    (slot.retainedBytes === null ? '' : `, ${slot.retainedBytes} bytes retained`);
}

/** A host's part in streaming replication: the writable server, a hot standby, neither, or detached from it (nightly mode again). */
export type StreamingRole = 'primary' | 'standby' | 'off' | 'detached';

export interface StreamingPart {
  role: StreamingRole;
  /** primary: the old server whose last write it replays before it is promoted (a planned switch: RPO 0). */
  handoverFrom: Host | undefined;
  /** A handover that may fail (EMERGENCY with the old server still answering): promote anyway. */
  handoverMandatory: boolean;
  /** standby: the host it streams from. */
  upstream: Host | undefined;
  /**
   * standby: it rejoins after being down, so whatever it wrote since it last streamed is not on the
   * server: its data directory is kept aside and replaced by a base backup of the server.
   */
  rebuild: boolean;
}

/**
 * In nightly mode, the contacted hosts whose database is still a hot standby (the mode was
 * continuous): each is detached, made writable on its own, before anything else, so that the
 * nightly restore (or a promotion) can work on it.
 */
export function hostsToDetach(situation: Situation, plan: Pick<SwitchPlan, 'untouched'>, mode: ReplicationMode): Host[] {
  if (mode !== 'nightly') return [];
  return HOSTS.filter((h) => !plan.untouched.includes(h))
    .filter((h) => situation.observed[h].reachable && (situation.observed[h] as { facts: { inRecovery?: boolean } }).facts.inRecovery);
}

/** Each contacted host's part in streaming replication once the plan is carried out. */
export function streamingParts(plan: Pick<SwitchPlan, 'to' | 'dataGrab' | 'untouched'>, next: Pair): Partial<Record<Host, StreamingPart>> {
  const server = plan.to;
  const grab = plan.dataGrab;
  const parts: Partial<Record<Host, StreamingPart>> = {};
  for (const host of HOSTS.filter((h) => !plan.untouched.includes(h))) {
    if (host === server) {
      const handover = grab?.final && grab.to === server ? grab : undefined;
      parts[host] = { role: 'primary', handoverFrom: handover?.from, handoverMandatory: handover?.mandatory ?? false,
        upstream: undefined, rebuild: false };
    } else if (roleOf(next[host]).replicatesFromOther) {
      parts[host] = { role: 'standby', handoverFrom: undefined, handoverMandatory: false, upstream: otherHost(host),
        rebuild: grab !== undefined && !grab.final && grab.to === host };
    } else {
      parts[host] = { role: 'off', handoverFrom: undefined, handoverMandatory: false, upstream: undefined, rebuild: false };
    }
  }
  return parts;
}

/** The cron jobs of a role in a mode: in continuous mode the receiver pulls the files only (the database streams). */
export function cronJobsOf(jobs: readonly CronJob[], mode: ReplicationMode): CronJob[] {
  return mode === 'nightly' ? [...jobs] : jobs.map((job) => (job === 'pull-and-restore' ? 'pull-files' : job));
}

/** The plan's steps in words, the grab told as what it is in continuous mode. */
export function continuousStepText(plan: UpPlan, describe: (step: UpPlan['steps'][number]) => string): string[] {
  return plan.steps.map((step) => {
    if (step.kind !== 'grab') return describe(step);
    if (step.final) {
      return `hand over from the ${step.from} to the ${step.to}: the ${step.from} stops writing, the ${step.to} replays ` +
        `its last write (compared by LSN), then is promoted` +
        (step.mandatory ? ` (if it fails, the ${step.from} takes writes again and keeps serving)` : ' (at once if the handover fails)');
    }
    return `rebuild the ${step.to} as the standby of the ${step.from}: its data directory kept aside, then a base backup`;
  });
}

/** What the standby's lag means, in words, as measured on it. */
export interface Lag {
  /** Seconds between the server's last write the standby replayed and the time of measuring; null: none replayed yet. */
  seconds: number | null;
  /** WAL bytes the server wrote that the standby has not replayed (known while the server answers). */
  bytes: number | null;
  /** Commit time of the last transaction the standby replayed (ISO), or null. */
  lastReplayedTransaction: string | null;
  /** The WAL position the standby had replayed up to (`X/Y`), or null. */
  replayLsn: string | null;
  /** When it was measured, by the standby's clock (ISO). */
  observedAt: string | null;
}

/**
 * A promotion, as the promoted host recorded it: what it had replayed at that moment (the server's
 * position is not known then: in an EMERGENCY it is dead), and the lag last measured while it was
 * the standby (by an up or refresh before the promotion, with the server answering), bytes included.
 */
export interface Promotion {
  atPromotion: Lag;
  lastObservedLag: Lag | null;
}

/**
 * The kept data directories (`<data dir>.kept-<date>-<time>-g<generation>`) to delete so that at most
 * `keep` stay: the oldest first (the names sort by the time they were kept), never `justKept`.
 */
export function keptToPrune(kept: readonly string[], keep: number, justKept: string | undefined): string[] {
  const older = [...kept].filter((dir) => dir !== justKept).sort();
  return older.slice(0, Math.max(0, older.length - (justKept === undefined ? keep : keep - 1)));
}
