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
import type { Lag, Promotion, StreamingRole } from '../model/continuous';
import { checkInputs, ConnectionInputs, connectionProps, connectionShape, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
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
  dataDir: string;
  binDir: string;
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

// Every script starts with this: $1 data dir, $2 bin dir, $3 port, then its own arguments.
const COMMON = `set -eu
pgdata=$1 pgbin=$2 port=$3; shift 3
home=$(dirname "$(dirname "$pgdata")")
log=/var/log/sounz/sounz-general.log
note() { printf '%s streaming-replication: %s\\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >>"$log"; }
as_pg() { runuser -u postgres -- "$@"; }
q() { as_pg "$pgbin/psql" -h /var/run/postgresql -p "$port" -qtAX -d postgres -c "$1"; }
running() { as_pg "$pgbin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; }
# The server outlives the script: it inherits none of its descriptors (fd 9 holds the standby set-up's lock).
start() { running || { rm -f "$pgdata/postmaster.pid"; as_pg "$pgbin/pg_ctl" -D "$pgdata" -l "$home/sounz-postgresql.log" -w -t 60 start >/dev/null 9>&-; }; }
stop() { if running; then as_pg "$pgbin/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null; fi; }
# Prints $1 once a hot standby is writable; nothing for a database that already is.
promote() {
  [ "$(q 'SELECT pg_is_in_recovery()')" = t ] || return 0
  q 'SELECT pg_promote(true, 60)' | grep -qx t || { echo "pg_promote did not finish within 60 s" >&2; exit 1; }
  note "$1"; echo "$1"
}
`;

// $4 peer address; the password on stdin. The .pgpass (0600, postgres) the standby logs in with, and
// the pg_hba entry that lets in the replication role from the peer's address only, first in the file.
const ACCESS = `${COMMON}peer=$1 role=${REPLICATION_ROLE}
read -r password
pgpass=$home/.pgpass
tmp=$(mktemp "$pgpass.XXXXXX"); chmod 0600 "$tmp"
printf '%s:*:*:%s:%s\\n' "$peer" "$role" "$password" >"$tmp"
chown postgres:postgres "$tmp"; mv -f "$tmp" "$pgpass"
hba=$pgdata/pg_hba.conf
if running; then hba=$(q 'SHOW hba_file'); fi
# pg_hba takes an address with a mask, or a host name without one: a name is resolved here, on the host
# (getent, as PostgreSQL resolves), else written in the host-name form.
case $peer in
  *[!0-9.]*) address=$(getent ahostsv4 "$peer" | awk 'NR == 1 { print $1 }'); address=\${address:+$address/32}; address=\${address:-$peer} ;;
  *) address=$peer/32 ;;
esac
want="host replication $role $address scram-sha-256 # sounz-standby: the peer only"
if ! grep -qxF "$want" "$hba"; then
  before=$(mktemp "$hba.before.XXXXXX"); cp -p "$hba" "$before"
  tmp=$(mktemp "$hba.XXXXXX")
  { echo "$want"; grep -v '# sounz-standby: the peer only$' "$hba" || true; } >"$tmp"
  chown postgres:postgres "$tmp"; chmod 0600 "$tmp"; mv -f "$tmp" "$hba"
  if running; then
    # PostgreSQL's own reading of the new file, before a reload: a line it refuses never stays behind to stop a later start.
    refused=$(q "SELECT string_agg(line_number || ': ' || error, '; ') FROM pg_hba_file_rules WHERE error IS NOT NULL")
    if [ -n "$refused" ]; then
      mv -f "$before" "$hba"
      echo "PostgreSQL refuses the pg_hba.conf line for $peer ($refused): $hba is back as it was" >&2; exit 1
    fi
    q 'SELECT pg_reload_conf()' >/dev/null
  fi
  rm -f "$before"
  note "pg_hba: the replication role from $peer ($address) only"
fi`;

// On the host that serves: writable, keeping WAL for its standby, the role's verifier from stdin.
const PRIMARY = `${COMMON}
start
promote promoted
read -r verifier
# The verifier travels on stdin too, never as an argument.
{ printf '\\\\set verifier %s\\n' "'$verifier'"; cat <<'SQL'; } | as_pg "$pgbin/psql" -h /var/run/postgresql -p "$port" -qtAX -d postgres >/dev/null
SELECT format('CREATE ROLE ${REPLICATION_ROLE} WITH LOGIN REPLICATION PASSWORD %L', :'verifier')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${REPLICATION_ROLE}') \\gexec
SELECT format('ALTER ROLE ${REPLICATION_ROLE} WITH LOGIN REPLICATION PASSWORD %L', :'verifier') \\gexec
SQL
if [ "$(q 'SHOW wal_keep_size')" = 0 ]; then q "ALTER SYSTEM SET wal_keep_size = '512MB'" >/dev/null; q 'SELECT pg_reload_conf()' >/dev/null; fi`;

// $4 peer, $5 this host's name, $6 generation, $7 generation folder, $8 "rebuild" or "follow", $9 the server's data generation.
// Streams from the peer: already so, or by following it with its own data (same cluster, no
// divergence: it starts streaming within 15 s), else by a base backup, the old directory kept aside.
const STANDBY = `${COMMON}peer=$1 name=$2 generation=$3 gen=$4 how=$5 data=$6
pgpass=$home/.pgpass
upstream="host=$peer port=$port user=${REPLICATION_ROLE} passfile=$pgpass connect_timeout=5"
streaming() { [ "$(q "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming' AND sender_host = '$peer'" 2>/dev/null)" = 1 ]; }
wait_streaming() { for i in $(seq 1 "$1"); do streaming && return 0; sleep 0.2; done; return 1; }
follow() {
  auto=$pgdata/postgresql.auto.conf
  tmp=$(mktemp "$auto.XXXXXX")
  { grep -v '^primary_conninfo' "$auto" 2>/dev/null || true
    echo "primary_conninfo = '$upstream application_name=$name'"; } >"$tmp"
  chown postgres:postgres "$tmp"; chmod 0600 "$tmp"; mv -f "$tmp" "$auto"
  as_pg touch "$pgdata/standby.signal"
}
record() { mkdir -p "$gen"; printf '%s\\n' "$data" >"$gen/data.tmp"; mv -f "$gen/data.tmp" "$gen/data"; }
if [ "$how" = follow ] && running && streaming; then record; echo "already streaming"; exit 0; fi
# One set-up at a time on a host: a killed up leaves its run going, and a second one would move the
# first one's kept directory. The lock lives in a root-only folder and ends with the run that holds it.
install -d -m 0700 /run/sounz-standby
lock=/run/sounz-standby/standby.lock
exec 9>>"$lock"
if ! flock -w 60 9; then
  # The holder: the process whose fd 9 holds the lock (its fdinfo lists it; /proc/locks, inside a PID
  # namespace, leaves out a lock whose taker, flock(1), has exited).
  holder=''
  for fd in /proc/[0-9]*/fd/9; do
    [ "$(readlink "$fd" 2>/dev/null)" = "$lock" ] && grep -q '^lock:' "\${fd%/fd/9}/fdinfo/9" 2>/dev/null && { holder=\${fd#/proc/}; holder=\${holder%%/*}; break; }
  done
  echo "another standby set-up runs on $name (pid \${holder:-unknown}, running $(ps -o etimes= -p "\${holder:-0}" 2>/dev/null | tr -d ' ') s) and held its lock for 60 s more: wait for it to end, or if an up that was killed left it, end it there (kill \${holder:-<pid>}), then run it again" >&2
  exit 1
fi
upstream_id=$(PGPASSFILE=$pgpass as_pg "$pgbin/psql" "$upstream replication=true dbname=replication" -qtAX -c IDENTIFY_SYSTEM | cut -d'|' -f1)
[ -n "$upstream_id" ] || { echo "$peer does not answer as the replication role" >&2; exit 1; }
own_id=$(as_pg "$pgbin/pg_controldata" "$pgdata" 2>/dev/null | sed -n 's/^Database system identifier: *//p' || true)
if [ "$how" = follow ] && [ "$own_id" = "$upstream_id" ]; then
  stop; follow; start
  if wait_streaming 75; then record; note "follows $peer with its own data"; echo "follows $peer"; exit 0; fi
  note "could not follow $peer with its own data: a base backup instead"
fi
stop
kept=''
if [ -e "$pgdata" ]; then
  kept=$pgdata.kept-$(date '+%Y%m%d-%H%M%S')-g$generation
  mv "$pgdata" "$kept"
  note "kept the previous data directory as $kept"
fi
install -d -o postgres -g postgres -m 0700 "$pgdata"
if ! PGPASSFILE=$pgpass as_pg "$pgbin/pg_basebackup" -d "$upstream" -D "$pgdata" -X stream -c fast >"$home/sounz-basebackup.log" 2>&1; then
  rm -rf "$pgdata"
  if [ -n "$kept" ]; then mv "$kept" "$pgdata"; start || true; fi
  echo "pg_basebackup from $peer failed, the previous data directory is back: $(tail -n 3 "$home/sounz-basebackup.log")" >&2
  exit 1
fi
# The configuration is this host's own (its addresses), not the peer's.
if [ -n "$kept" ]; then for f in postgresql.conf pg_hba.conf pg_ident.conf; do [ -e "$kept/$f" ] && cp -p "$kept/$f" "$pgdata/$f"; done; fi
follow; start
wait_streaming 150 || { echo "the base backup of $peer started, but does not stream from it within 30 s" >&2; exit 1; }
record
note "rebuilt from $peer by a base backup\${kept:+, the previous data directory kept as $kept}"
echo "rebuilt from $peer\${kept:+; kept: $kept}"
echo "just kept: $kept"`;

// Lag, from the standby: "<seconds since the last replayed commit>|<its time, epoch seconds>|<receive - replay bytes>|<replay lsn>|<now, epoch seconds>".
const LAG = `${COMMON}
q "SELECT coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::text, ''), coalesce(extract(epoch FROM pg_last_xact_replay_timestamp())::text, ''),
  coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text, ''), coalesce(pg_last_wal_replay_lsn()::text, ''), extract(epoch FROM now())"`;

const CURRENT_LSN = `${COMMON}
q 'SELECT pg_current_wal_lsn()'`;

// The old server's side of a handover: shut down cleanly (the walsender sends the standby everything
// up to the shutdown checkpoint), then print that checkpoint's location.
const HANDOVER_STOP = `${COMMON}
stop
as_pg "$pgbin/pg_controldata" "$pgdata" | sed -n 's/^Latest checkpoint location: *//p'`;

// $4 the old server's last LSN, $5 tenths of a second to wait: the standby has replayed past it.
const REPLAYED_PAST = `${COMMON}target=$1 tries=$2
for i in $(seq 1 "$tries"); do
  [ "$(q "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$target') > 0")" = t ] && { q 'SELECT pg_last_wal_replay_lsn()'; exit 0; }
  sleep 0.1
done
echo "replayed only up to $(q 'SELECT pg_last_wal_replay_lsn()'), the old server's last write is at $target" >&2; exit 1`;

const RESTART = `${COMMON}
start`;

// Back to the nightly mode: a hot standby becomes a database of its own, which the nightly restore replaces.
const DETACH = `${COMMON}
start
promote 'detached from streaming replication (nightly mode): writable on its own'`;

// $4...: kept data directories to delete; anything else is refused.
const PRUNE = `${COMMON}
for d in "$@"; do
  case "$d" in "$pgdata".kept-*) ;; *) echo "$d is not a kept data directory of $pgdata" >&2; exit 1 ;; esac
  rm -rf -- "$d"
  note "deleted the kept data directory $d (sounz:replication.keepDataDirectories)"
done`;

// The kept data directories, one a line, then the time of the last file sync.
const KEPT = `${COMMON}
for d in "$pgdata".kept-*; do [ -d "$d" ] && echo "$d"; done
echo "synced $(cat /etc/sounz/last-file-sync 2>/dev/null || echo never)"`;

/** KEPT's lines: the kept directories and the last file sync. */
function keptAndSynced(stdout: string): { kept: string[]; lastFileSync: string } {
  const lines = stdout.split('\n').filter(Boolean);
  const synced = lines.find((line) => line.startsWith('synced '));
  return { kept: lines.filter((line) => line !== synced), lastFileSync: synced?.slice('synced '.length) ?? 'never' };
}

const STATE = `${COMMON}
if ! running; then echo stopped; exit 0; fi
if [ "$(q 'SELECT pg_is_in_recovery()')" = f ]; then echo primary; exit 0; fi
sender=$(q "SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'")
if [ -n "$sender" ]; then echo "streaming from $sender"; else echo "standby, not streaming"; fi`;

export function parseLag(line: string): Lag {
  const [seconds, time, bytes, replayLsn, now] = line.trim().split('|');
  const number = (s: string | undefined) => (s === undefined || s === '' ? null : Math.round(Number(s) * 1000) / 1000);
  const iso = (epoch: string | undefined) => (epoch ? new Date(Number(epoch) * 1000).toISOString() : null);
  return { seconds: number(seconds), bytes: number(bytes), lastReplayedTransaction: iso(time), replayLsn: replayLsn || null, observedAt: iso(now) };
}

const UNKNOWN_LAG: Lag = { seconds: null, bytes: null, lastReplayedTransaction: null, replayLsn: null, observedAt: null };

export function streamingReplicationProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const pg = (inputs: StreamingReplicationInputs, text: string, ...args: string[]) =>
    script(text, inputs.dataDir, inputs.binDir, String(inputs.port), ...args);
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
    } else if (inputs.role === 'primary') {
      const wasStandby = /^(streaming|standby)/.test((await run(target, pg(inputs, STATE))).stdout.trim());
      const handedOver = wasStandby && inputs.handover;
      if (handedOver) outcome.push(await handover(inputs));
      // What the standby had replayed when it was promoted: everything the old server committed later is lost.
      if (wasStandby) {
        lag = { ...parseLag((await run(target, pg(inputs, LAG), { allowFailure: true })).stdout), bytes: null };
      }
      const salt = (require('crypto') as typeof import('crypto')).randomBytes(16);
      const done = (await run(target, pg(inputs, PRIMARY), { stdin: `${scramVerifier(inputs.password!, salt)}\n`, timeoutMs: 90_000 })
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
        inputs.rebuild ? 'rebuild' : 'follow', String(inputs.serverData)), { timeoutMs: 600_000 })).stdout.trim().split('\n');
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
    return { ...inputs, state, lag, promotion, kept, lastFileSync, outcome: outcome.join('; ') || 'unchanged' };
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
          dataDir: g.absolutePath.default('/var/lib/postgresql/15/main'),
          binDir: g.absolutePath.default('/usr/lib/postgresql/15/bin'),
          port: g.port.default(5432),
          generation: z.number().int().nonnegative(),
          serverData: z.number().int().nonnegative(),
          handover: z.boolean(),
          handoverMandatory: z.boolean(),
          rebuild: z.boolean(),
          keepDataDirectories: g.keepDataDirectories,
        };
      }, news);
    },
    async diff(_id: string, olds: StreamingReplicationOutputs, news: StreamingReplicationInputs) {
      // A handover or rebuild belongs to its switch: it comes with a new generation, and alone (the
      // next up of the same generation no longer asks for it) is no work; so is the number of kept
      // data directories, which only a rebuild applies.
      const { handover: _h, handoverMandatory: _m, rebuild: _r, keepDataDirectories: _k, ...rest } = news;
      return diffInputs(olds, rest as StreamingReplicationInputs, ['dataDir']);
    },
    async create(inputs: StreamingReplicationInputs) {
      return { id: `${inputs.host}:${inputs.dataDir}`, outs: await converge(inputs) };
    },
    async read(id: string, props: StreamingReplicationOutputs) {
      const target = targetOf(props);
      const state = (await run(target, pg(props, STATE))).stdout.trim();
      const { kept, lastFileSync } = keptAndSynced((await run(target, pg(props, KEPT))).stdout);
      return { id, props: { ...props, state, kept, lastFileSync, lag: await lagOf(props) } };
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
  peer: pulumi.Input<string>;
  peerHost: pulumi.Input<Omit<ConnectionInputs, 'privateKey'>>;
  password: pulumi.Input<string> | undefined;
  generation: pulumi.Input<number>;
  serverData: pulumi.Input<number>;
  handover: pulumi.Input<boolean>;
  handoverMandatory: pulumi.Input<boolean>;
  rebuild: pulumi.Input<boolean>;
  keepDataDirectories: pulumi.Input<number>;
}

export class StreamingReplication extends HostResource {
  declare readonly state: pulumi.Output<string>;
  declare readonly lag: pulumi.Output<Lag>;
  declare readonly promotion: pulumi.Output<Promotion | null>;
  declare readonly kept: pulumi.Output<string[]>;
  declare readonly outcome: pulumi.Output<string>;
  declare readonly lastFileSync: pulumi.Output<string>;

  constructor(name: string, args: StreamingReplicationArgs, opts?: pulumi.CustomResourceOptions) {
    const { role, peer, peerHost, generation, serverData, handover, handoverMandatory, rebuild, keepDataDirectories } = args;
    super('streamingReplication', streamingReplicationProvider, name, {
      ...connectionProps(args), role, peer, peerHost, password: args.password && pulumi.secret(args.password), generation, serverData, handover,
      handoverMandatory, rebuild, keepDataDirectories, dataDir: undefined, binDir: undefined, port: undefined,
      state: undefined, lag: undefined, promotion: undefined, kept: undefined, outcome: undefined, lastFileSync: undefined,
    }, { ...opts, additionalSecretOutputs: [...SECRET_OUTPUTS, 'password'] });
  }
}
