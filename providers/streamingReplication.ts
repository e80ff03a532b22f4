// StreamingReplication: a host's part in PostgreSQL streaming replication (sounz:replication.mode
// continuous, model/continuous.ts). On the host that serves: the replication role (its password set
// as a SCRAM verifier computed here, so the password itself never reaches the server), a pg_hba
// entry for the peer's address only, and the database writable (promoted if it was a standby). On
// its standby: a hot standby streaming from the server (standby.signal, primary_conninfo with a
// 0600 .pgpass), made by a base backup when its own data cannot follow (another cluster, or a host
// returning from down), its previous data directory kept aside first. The password reaches the
// hosts on stdin only: never in a command line, the state (a secret input) or a log.
//
// A planned switch's handover happens in the new server's create/update, before it claims the
// service IP: the old server's PostgreSQL is shut down cleanly (which sends its last WAL to the
// standby), the standby replays up to the old server's shutdown checkpoint (LSNs compared), then
// pg_promote. If that fails before the promotion, the old server's PostgreSQL starts again and it
// keeps serving. In an EMERGENCY the standby is promoted at once; what it had replayed is the outcome.
import * as pulumi from '@pulumi/pulumi';
import { GENERATION_DIR } from '../model/generation';
import { REPLICATE_COMMAND } from '../model/hostPaths';
import { keptToPrune } from '../model/continuous';
import { parseSlots } from '../model/continuous';
import type { Lag, Promotion, Slot, StreamingRole } from '../model/continuous';
import { checkInputs, ConnectionInputs, connectionProps, connectionShape, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { hostScript } from './project';
import { Runner, runOverSsh, script, SshTarget } from './ssh';

export const REPLICATION_ROLE = 'sounz_replication';

export interface StreamingReplicationInputs extends ConnectionInputs {
  role: StreamingRole;
  /** The other host's address: the only one pg_hba lets in as the replication role; a standby's upstream. */
  peer: string;
  /** The other host, for a handover or a standby's questions to its upstream. */
  peerHost: Omit<ConnectionInputs, 'privateKey'>;
  /** A secret input; a detached host needs none. */
  password?: string;
  /** The PostgreSQL cluster (sounz:postgresql): its data and configuration directories are discovered on the host. */
  version: string;
  cluster: string;
  port: number;
  /** The switch generation: each switch checks the part again. */
  generation: number;
  /** standby: the data generation of the server it streams from, which it then holds too. */
  serverData: number;
  /** primary: replay the peer's last write first (a planned switch); the peer serves until then. */
  handover: boolean;
  /** A handover that may fail (the peer declared down): promote anyway. */
  handoverMandatory: boolean;
  /** standby: keep the data directory aside and take a base backup of the peer, whatever it holds. */
  rebuild: boolean;
  /** After a base backup, the kept data directories beyond this many (the oldest) are deleted. */
  keepDataDirectories: number;
  /** primary: its standby's replication slot ("" when it has none); standby, detached: its own slot on the server (model/continuous.ts standbySlot). */
  slot: string;
  /** primary: the most WAL (MB) the slot may keep (sounz:replication.maxSlotWalKeepSize); beyond, the slot is lost. */
  maxSlotWalKeepSize: number;
}

export interface StreamingReplicationOutputs extends StreamingReplicationInputs {
  /** "primary", "streaming from <address>", or "off". */
  state: string;
  /** standby: its lag behind the server; primary: at its promotion, what it had replayed (else unknown). */
  lag: Lag;
  /** primary: the promotion this create/update did, else null. */
  promotion: Promotion | null;
  /** Data directories kept aside on this host (newest last). */
  kept: string[];
  /** What this create/update did, in words: handover, promotion, base backup. */
  outcome: string;
  /** When this host last landed the data areas and index pulled from its server (pull-files, UTC), or "never". */
  lastFileSync: string;
  /** The standby's slot on the server as the server reports it (null: none, or the server did not answer). */
  slotState: Slot | null;
}

/** A SCRAM-SHA-256 verifier of `password` (RFC 5802, as PostgreSQL stores it): the server never sees the password. */
export function scramVerifier(password: string, salt: Buffer, iterations = 4096): string {
  const crypto = require('crypto') as typeof import('crypto');
  const salted = crypto.pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const hmac = (key: Buffer, text: string) => crypto.createHmac('sha256', key).update(text).digest();
  const stored = crypto.createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const server = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${stored.toString('base64')}:${server.toString('base64')}`;
}

// The scripts, each from its own file with the common part before it (providers/scripts/streaming/args.sh:
// $1 the cluster's version, $2 its name, $3 its port, $4 the replication role, then the script's own arguments).
const COMMON = hostScript('streaming/args.sh') + hostScript('cluster.sh') + hostScript('streaming/common.sh');
const streamingScript = (name: string) => COMMON + hostScript(`streaming/${name}.sh`);
const ACCESS = streamingScript('access');
const PRIMARY = streamingScript('primary');
const STANDBY = streamingScript('standby');
const LAG = streamingScript('lag');
const CURRENT_LSN = streamingScript('current-lsn');
const HANDOVER_STOP = streamingScript('handover-stop');
const REPLAYED_PAST = streamingScript('replayed-past');
const RESTART = streamingScript('restart');
const DETACH = streamingScript('detach');
const PRUNE = streamingScript('prune');
const KEPT = streamingScript('kept');
const STATE = streamingScript('state');
const SLOT = streamingScript('slot');
const DROP_SLOT = streamingScript('drop-slot');

/** KEPT's lines: the kept directories and the last file sync. */
function keptAndSynced(stdout: string): { kept: string[]; lastFileSync: string } {
  const lines = stdout.split('\n').filter(Boolean);
  const synced = lines.find((line) => line.startsWith('synced '));
  return { kept: lines.filter((line) => line !== synced), lastFileSync: synced?.slice('synced '.length) ?? 'never' };
}

export function parseLag(line: string): Lag {
  const [seconds, time, bytes, replayLsn, now] = line.trim().split('|');
  const number = (s: string | undefined) => (s === undefined || s === '' ? null : Math.round(Number(s) * 1000) / 1000);
  const iso = (epoch: string | undefined) => (epoch ? new Date(Number(epoch) * 1000).toISOString() : null);
  return { seconds: number(seconds), bytes: number(bytes), lastReplayedTransaction: iso(time), replayLsn: replayLsn || null, observedAt: iso(now) };
}

const UNKNOWN_LAG: Lag = { seconds: null, bytes: null, lastReplayedTransaction: null, replayLsn: null, observedAt: null };

export function streamingReplicationProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const pg = (inputs: StreamingReplicationInputs, text: string, ...args: string[]) =>
    script(text, inputs.version, inputs.cluster, String(inputs.port), REPLICATION_ROLE, ...args);
  const peerTarget = (inputs: StreamingReplicationInputs): SshTarget => targetOf({ ...inputs.peerHost, privateKey: inputs.privateKey });

  /** A standby's lag behind its server, measured on both (the server may not answer). */
  const lagOf = async (inputs: StreamingReplicationInputs): Promise<Lag> => {
    if (inputs.role !== 'standby') return UNKNOWN_LAG;
    const seen = await run(targetOf(inputs), pg(inputs, LAG), { allowFailure: true, timeoutMs: 5_000 }).catch(() => undefined);
    if (!seen || seen.code !== 0) return UNKNOWN_LAG;
    const lag = parseLag(seen.stdout);
    // Bytes behind the server: its current WAL position against what the standby replayed.
    const server = peerTarget(inputs);
    const current = await run(server, pg(inputs, CURRENT_LSN), { allowFailure: true, timeoutMs: 5_000 }).catch(() => undefined);
    if (lag.replayLsn && current?.code === 0 && /^[0-9A-F]+\/[0-9A-F]+$/.test(current.stdout.trim())) {
      lag.bytes = lsnBytes(current.stdout.trim()) - lsnBytes(lag.replayLsn);
    }
    return lag;
  };

  /** The standby's slot, asked of the server: this host (primary) or its peer (standby). */
  const slotOf = async (inputs: StreamingReplicationInputs): Promise<Slot | null> => {
    if (!inputs.slot || (inputs.role !== 'primary' && inputs.role !== 'standby')) return null;
    const server = inputs.role === 'primary' ? targetOf(inputs) : peerTarget(inputs);
    const seen = await run(server, pg(inputs, SLOT, inputs.slot), { allowFailure: true, timeoutMs: 5_000 }).catch(() => undefined);
    return seen?.code === 0 ? parseSlots(seen.stdout)[0] ?? null : null;
  };

  const handover = async (inputs: StreamingReplicationInputs): Promise<string> => {
    const old = peerTarget(inputs);
    const started = Date.now();
    try {
      const last = (await run(old, pg(inputs, HANDOVER_STOP), { timeoutMs: 90_000 })).stdout.trim();
      if (!/^[0-9A-F]+\/[0-9A-F]+$/.test(last)) throw new Error(`${old.host}: no checkpoint location after the shutdown (${last})`);
      const replayed = (await run(targetOf(inputs), pg(inputs, REPLAYED_PAST, last, '300'))).stdout.trim();
      // The data areas and the index come with the database (the cron's pull-files would leave the last
      // minutes' files behind): a final pull from the old server, whose rsync daemons still run.
      const files = inputs.handoverMandatory ? (await run(targetOf(inputs),
        ['timeout', '600', REPLICATE_COMMAND, '--wait', '--switch', 'pull-files', old.address], { timeoutMs: 610_000 }), '; data areas and index pulled') : '';
      return `handover from ${old.host}: its last write at ${last}, replayed here up to ${replayed} in ${Date.now() - started} ms${files}`;
    } catch (error) {
      const failure = (error as Error).message;
      if (!inputs.handoverMandatory) return `handover from ${old.host} failed (${failure}); promoted at once`;
      throw await restartOld(inputs, `the handover from ${old.host} to ${inputs.host} failed before the promotion: ${failure}`);
    }
  };

  /** After a planned handover stopped the old server's PostgreSQL and a later step failed: start it again, and say so. */
  const restartOld = async (inputs: StreamingReplicationInputs, failure: string): Promise<Error> => {
    const old = peerTarget(inputs);
    const restarted = await run(old, pg(inputs, RESTART)).then(() => true, () => false);
    return new Error(`${failure}. ` + (restarted
      ? `${old.host}'s PostgreSQL runs again and it keeps the service IP: nothing changed for the site.`
      : `${old.host} keeps the service IP but its PostgreSQL did not start again: start it there.`));
  };

  /** `previous`: the outputs of the last create/update or refresh (an update's olds). */
  const converge = async (inputs: StreamingReplicationInputs, previous?: StreamingReplicationOutputs): Promise<StreamingReplicationOutputs> => {
    const target = targetOf(inputs);
    const outcome: string[] = [];
    let lag = UNKNOWN_LAG;
    let promotion: Promotion | null = null;
    if (inputs.role === 'primary' || inputs.role === 'standby') {
      if (!inputs.password) throw new Error(`${inputs.host}: streaming replication needs the replication role's password`);
      await run(target, pg(inputs, ACCESS, inputs.peer), { stdin: `${inputs.password}\n` });
    }
    if (inputs.role === 'detached') {
      outcome.push((await run(target, pg(inputs, DETACH), { timeoutMs: 90_000 })).stdout.trim());
      // Its slot on the server goes with it; a server that does not answer keeps it until the slot's bound.
      if (inputs.slot) {
        const dropped = await run(peerTarget(inputs), pg(inputs, DROP_SLOT, inputs.slot), { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
        outcome.push(dropped?.code === 0 ? `its slot ${inputs.slot} dropped on ${inputs.peerHost.host}`
          : `its slot ${inputs.slot} could not be dropped on ${inputs.peerHost.host} (it goes once it holds sounz:replication.maxSlotWalKeepSize)`);
      }
    } else if (inputs.role === 'primary') {
      const wasStandby = /^(streaming|standby)/.test((await run(target, pg(inputs, STATE))).stdout.trim());
      const handedOver = wasStandby && inputs.handover;
      if (handedOver) outcome.push(await handover(inputs));
      // What the standby had replayed when it was promoted: everything the old server committed later is lost.
      if (wasStandby) {
        lag = { ...parseLag((await run(target, pg(inputs, LAG), { allowFailure: true })).stdout), bytes: null };
      }
      const salt = (require('crypto') as typeof import('crypto')).randomBytes(16);
      const done = (await run(target, pg(inputs, PRIMARY, inputs.slot, String(inputs.maxSlotWalKeepSize)), { stdin: `${scramVerifier(inputs.password!, salt)}\n`, timeoutMs: 90_000 })
        .catch(async (error: Error) => {
          // The old server was stopped for the handover: a failed promotion must not leave the site without a database.
          if (!handedOver || !inputs.handoverMandatory) throw error;
          throw await restartOld(inputs, `the promotion of ${inputs.host} after the handover failed: ${error.message}`);
        })).stdout.trim();
      if (done === 'promoted') {
        outcome.push(`promoted; it had replayed the transactions committed up to ${lag.lastReplayedTransaction ?? '(none)'}`);
        // The lag is only known while the server answers: the last one measured here as its standby is the record.
        promotion = { atPromotion: lag, lastObservedLag: previous?.role === 'standby' ? previous.lag : null };
      }
    } else if (inputs.role === 'standby') {
      const lines = (await run(target, pg(inputs, STANDBY, inputs.peer, inputs.host, String(inputs.generation), GENERATION_DIR,
        inputs.rebuild ? 'rebuild' : 'follow', String(inputs.serverData), inputs.slot), { timeoutMs: 600_000 })).stdout.trim().split('\n');
      const justKept = lines.find((line) => line.startsWith('just kept:'));
      outcome.push(lines.filter((line) => line !== justKept).join('\n'));
      // Only a base backup that streams keeps a directory aside; then the oldest beyond the setting go.
      if (justKept !== undefined) {
        const { kept } = keptAndSynced((await run(target, pg(inputs, KEPT))).stdout);
        const prune = keptToPrune(kept, inputs.keepDataDirectories, justKept.slice('just kept:'.length).trim() || undefined);
        if (prune.length > 0) await run(target, pg(inputs, PRUNE, ...prune));
      }
      lag = await lagOf(inputs);
    }
    const state = (await run(target, pg(inputs, STATE))).stdout.trim();
    const { kept, lastFileSync } = keptAndSynced((await run(target, pg(inputs, KEPT))).stdout);
    return { ...inputs, state, lag, promotion, kept, lastFileSync, slotState: await slotOf(inputs), outcome: outcome.join('; ') || 'unchanged' };
  };

  return {
    async check(_olds: StreamingReplicationInputs, news: StreamingReplicationInputs) {
      return checkInputs((z, g) => {
        const { privateKey: _, ...hostShape } = connectionShape(g);
        return {
          role: z.enum(['primary', 'standby', 'off', 'detached']),
          peer: g.hostnameOrIp,
          peerHost: z.object(hostShape).strict(),
          password: g.replicationPassword.optional(),
          version: g.postgresqlVersion,
          cluster: g.clusterName,
          port: g.port,
          generation: z.number().int().nonnegative(),
          serverData: z.number().int().nonnegative(),
          handover: z.boolean(),
          handoverMandatory: z.boolean(),
          rebuild: z.boolean(),
          keepDataDirectories: g.keepDataDirectories,
          slot: z.string().regex(/^$|^[a-z0-9_]{1,63}$/),
          maxSlotWalKeepSize: g.maxSlotWalKeepSize,
        };
      }, news);
    },
    async diff(_id: string, olds: StreamingReplicationOutputs, news: StreamingReplicationInputs) {
      // A handover or rebuild belongs to its switch: it comes with a new generation, and alone (the
      // next up of the same generation no longer asks for it) is no work; so is the number of kept
      // data directories, which only a rebuild applies. The slot and its bound are work.
      const { handover: _h, handoverMandatory: _m, rebuild: _r, keepDataDirectories: _k, ...rest } = news;
      // Another cluster is another resource. A state from before sounz:postgresql (dataDir, binDir) was Debian's 15/main.
      return diffInputs({ ...olds, version: olds.version ?? '15', cluster: olds.cluster ?? 'main' }, rest as StreamingReplicationInputs, ['version', 'cluster']);
    },
    async create(inputs: StreamingReplicationInputs) {
      return { id: `${inputs.host}:${inputs.version}/${inputs.cluster}`, outs: await converge(inputs) };
    },
    async read(id: string, props: StreamingReplicationOutputs) {
      const target = targetOf(props);
      const state = (await run(target, pg(props, STATE))).stdout.trim();
      const { kept, lastFileSync } = keptAndSynced((await run(target, pg(props, KEPT))).stdout);
      return { id, props: { ...props, state, kept, lastFileSync, lag: await lagOf(props), slotState: await slotOf(props) } };
    },
    async update(_id: string, olds: StreamingReplicationOutputs, news: StreamingReplicationInputs) {
      return { outs: await converge(news, olds) };
    },
    // Nothing to undo: the stack keeps host resources on delete (retainOnDelete), and a switch to
    // the nightly mode detaches a standby by a resource of its own (role "off" would keep it as it is).
  };
}

/** An LSN `X/Y` as a byte position. */
export function lsnBytes(lsn: string): number {
  const [high, low] = lsn.split('/').map((part) => Number.parseInt(part, 16));
  return high * 2 ** 32 + low;
}

export interface StreamingReplicationArgs extends HostArgs {
  role: pulumi.Input<StreamingRole>;
  version: pulumi.Input<string>;
  cluster: pulumi.Input<string>;
  port: pulumi.Input<number>;
  peer: pulumi.Input<string>;
  peerHost: pulumi.Input<Omit<ConnectionInputs, 'privateKey'>>;
  password: pulumi.Input<string> | undefined;
  generation: pulumi.Input<number>;
  serverData: pulumi.Input<number>;
  handover: pulumi.Input<boolean>;
  handoverMandatory: pulumi.Input<boolean>;
  rebuild: pulumi.Input<boolean>;
  keepDataDirectories: pulumi.Input<number>;
  slot: pulumi.Input<string>;
  maxSlotWalKeepSize: pulumi.Input<number>;
}

export class StreamingReplication extends HostResource {
  declare readonly state: pulumi.Output<string>;
  declare readonly lag: pulumi.Output<Lag>;
  declare readonly promotion: pulumi.Output<Promotion | null>;
  declare readonly kept: pulumi.Output<string[]>;
  declare readonly outcome: pulumi.Output<string>;
  declare readonly lastFileSync: pulumi.Output<string>;
  declare readonly slotState: pulumi.Output<Slot | null>;

  constructor(name: string, args: StreamingReplicationArgs, opts?: pulumi.CustomResourceOptions) {
    const { role, version, cluster, port, peer, peerHost, generation, serverData, handover, handoverMandatory, rebuild, keepDataDirectories, slot, maxSlotWalKeepSize } = args;
    super('streamingReplication', streamingReplicationProvider, name, {
      ...connectionProps(args), role, peer, peerHost, password: args.password && pulumi.secret(args.password), generation, serverData, handover,
      handoverMandatory, rebuild, keepDataDirectories, slot, maxSlotWalKeepSize, version, cluster, port,
      state: undefined, lag: undefined, promotion: undefined, kept: undefined, outcome: undefined, lastFileSync: undefined, slotState: undefined,
    }, { ...opts, additionalSecretOutputs: [...SECRET_OUTPUTS, 'password'] });
  }
}
