// A client of the sandbox (tests and bench alike): a numbered row committed every 20 ms on whichever host serves,
// from the operator's machine over TCP (a killed host takes nothing of the writer with it). It keeps
// one psql session open, feeds it one INSERT ... RETURNING per tick and counts a row as written only
// when psql printed it back: committed. A session that ends (server stopped, killed, read-only: a
// hot standby refuses the INSERT) is replaced by one to the next of its servers in turn, so it finds
// the new server as soon as that takes writes; rows sent into a dead session are not counted.
import { ChildProcess, spawn } from 'child_process';
import { execOn } from './probes';
import { BRIDGE_ADDRESS, HostName } from './layout';

export const WRITER_TABLE = 'writer_rows';

export interface Acked {
  n: number;
  /** The row's commit time on the server (clock_timestamp() at the insert), ms since the epoch. */
  at: number;
}

/** Every writer started and not yet stopped: a test's afterEach stops them, so that a failed test leaves none writing. */
export const runningWriters = new Set<Writer>();

export class Writer {
  readonly acked: Acked[] = [];
  /** Numbers of its own: each writer starts at its start time in microseconds, beyond any earlier writer's. */
  private next = Date.now() * 1000;
  private session: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private turn = 0;

  /** `servers`: the addresses to write to, one after the other, a new session each. */
  constructor(private readonly servers: string[], private readonly periodMs = 20) {}

  start(): void {
    runningWriters.add(this);
    this.open();
    this.timer = setInterval(() => {
      const stdin = this.session?.stdin;
      if (!stdin || stdin.destroyed || !stdin.writable) return;
      stdin.write(`INSERT INTO ${WRITER_TABLE} (n) VALUES (${this.next++}) RETURNING n, extract(epoch FROM at) * 1000;\n`);
    }, this.periodMs);
  }

  private open(): void {
    if (this.stopped) return;
    const server = this.servers[this.turn++ % this.servers.length];
    // Line-buffered: an acknowledgement still in psql's buffer when a killed server's session is
    // given up would be a committed row the writer never counted.
    const child = spawn('stdbuf', ['-oL', 'psql', '-h', server, '-U', 'postgres', '-d', 'sounz', '-qtAX', '-v', 'ON_ERROR_STOP=1'],
      { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, PGCONNECT_TIMEOUT: '1' } });
    this.session = child;
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const [n, at] = line.split('|');
        if (/^\d+$/.test(n) && at) this.acked.push({ n: Number(n), at: Number(at) });
      }
    });
    child.stdin!.on('error', () => undefined);
    child.on('exit', () => {
      if (this.session === child) this.session = undefined;
      setTimeout(() => this.open(), 100);
    });
  }

  /**
   * Stops writing and waits for the last session to end: 2 s for what it still answers (a session to a
   * killed host hangs on its last INSERT, which never committed as far as the writer knows), then it is killed.
   */
  async stop(): Promise<Acked[]> {
    this.stopped = true;
    runningWriters.delete(this);
    clearInterval(this.timer);
    const child = this.session;
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => { child.kill('SIGKILL'); resolve(); }, 2_000);
        child.on('exit', () => { clearTimeout(kill); resolve(); });
        child.stdin!.end();
      });
    }
    return this.acked;
  }
}

/** The longest time between two consecutive commits, in ms: how long the database took no writes. */
export function longestGap(acked: Acked[]): number {
  const times = acked.map((row) => row.at).sort((a, b) => a - b);
  return Math.max(0, ...times.slice(1).map((at, i) => at - times[i]));
}

/** The writer's table, made on the server (the standby gets it by replication). */
export const WRITER_TABLE_SQL =
  `CREATE TABLE IF NOT EXISTS ${WRITER_TABLE} (n bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())`;

/**
 * Lets the writer in on `host`: a trust line for this machine's bridge address in the pg_hba.conf its
 * server reads (`SHOW hba_file`: the data directory on a namespace host, /etc/postgresql on a Debian
 * one), then a reload. A fixture of tests and bench, not the program's.
 */
export async function admitWriter(host: HostName): Promise<void> {
  await execOn(host, ['sh', '-c', `hba=$(runuser -u postgres -- psql -qtAX -c 'SHOW hba_file') && line='host sounz postgres ${BRIDGE_ADDRESS}/32 trust' && ` +
    `{ grep -qxF "$line" "$hba" || echo "$line" >>"$hba"; } && runuser -u postgres -- psql -qtAX -c 'SELECT pg_reload_conf()' >/dev/null`]);
}
