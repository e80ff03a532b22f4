// A throwaway PostgreSQL 15 cluster on the operator's side (127.0.0.1, a free port, a temporary data
// folder), for the shared-stack test: Debian's binaries (installed with the sandbox's packages), the
// postmaster started as our own child, stopped by its PID, its folder removed. Never on a sandbox host.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { createServer } from 'net';
import { tmpdir } from 'os';
import { join } from 'path';
import { ensurePackages } from '../../sandbox';

const BIN = '/usr/lib/postgresql/15/bin';

export interface Cluster {
  /** `postgres://<role>@127.0.0.1:<port>/<database>?sslmode=disable`: no password (the CLI prints the URL). */
  url: string;
  /** The role's password, for PGPASSWORD. */
  password: string;
  port: number;
  pid: number;
  /** psql as the superuser in the team's database; its output. */
  psql(sql: string): string;
  stop(): Promise<void>;
}

const freePort = () => new Promise<number>((resolve, reject) => {
  const server = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  });
});

export async function startCluster(): Promise<Cluster> {
  ensurePackages();
  const uid = idOf('-u');
  const gid = idOf('-g');
  const dir = mkdtempSync(join(tmpdir(), 'sounz-pg-'));
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const asPostgres = { uid, gid, cwd: dir, encoding: 'utf8' as const, env: { PATH: process.env.PATH, LANG: 'C.UTF-8' } };
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, 'operator-test-superuser\n');
  chownSync(passwordFile, uid, gid);
  const init = spawnSync(`${BIN}/initdb`, ['-D', data, '-U', 'postgres', '--pwfile', passwordFile, '--auth-local=trust',
    '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8'], asPostgres);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  const postmaster: ChildProcess = spawn(`${BIN}/postgres`, ['-D', data, '-c', 'listen_addresses=127.0.0.1', '-c', `port=${port}`,
    '-c', `unix_socket_directories=${dir}`], { ...asPostgres, stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => postmaster.once('exit', () => resolve()));
  const psql = (sql: string, database = 'postgres') => {
    const r = spawnSync(`${BIN}/psql`, ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', database, '-qtAX', '-v', 'ON_ERROR_STOP=1', '-c', sql], asPostgres);
    if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  for (let i = 0; spawnSync(`${BIN}/pg_isready`, ['-q', '-h', dir, '-p', String(port)]).status !== 0; i++) {
    if (i > 100) throw new Error('the throwaway PostgreSQL did not start within 10 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  // The team's own role and database, reached over TCP with a password, as from another machine.
  psql("create role pulumi login password 'team-state'");
  psql('create database pulumi owner pulumi');
  return {
    url: `postgres://pulumi@127.0.0.1:${port}/pulumi?sslmode=disable`,
    password: 'team-state',
    port,
    pid: postmaster.pid!,
    psql: (sql: string) => psql(sql, 'pulumi'),
    async stop() {
      process.kill(postmaster.pid!, 'SIGINT'); // fast shutdown: roll back, close connections, exit
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function idOf(flag: '-u' | '-g'): number {
  return Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
}
