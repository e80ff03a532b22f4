// The one SSH transport of all providers: ssh2 with the host key pinned, bounded connect and
// command times, one connection per host per provider process, and commands built only from
// argument arrays (each argument single-quoted) so that no config value is ever read by a shell.
//
// Dynamic providers are serialized into the state as code, so this module holds no live objects:
// ssh2 is required inside the functions and the connection pool hangs off globalThis, which the
// provider process shares between all resources of one engine run.
import type { Client, ClientChannel } from 'ssh2';
import type { HostConfig } from '../model/config';

/** How to reach one host; `privateKey` is a Pulumi secret input of every resource that carries it. */
export interface SshTarget {
  /** The host's name in the runbook (slayer, megadeth): every error names it. */
  host: string;
  address: string;
  port: number;
  user: string;
  /** Pinned host key, `<type> <base64>`; any other key is refused. */
  hostKey: string;
  privateKey: string;
}

/** How the operator's own code (not a resource) reaches `machine`. */
export function sshTarget(machine: HostConfig, privateKey: string): SshTarget {
  const { name: host, address, sshPort: port, user, hostKey } = machine;
  return { host, address, port, user, hostKey, privateKey };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string;
  /** Milliseconds the command may run once connected. */
  timeoutMs?: number;
  /** Resolve with a non-zero exit code instead of rejecting. */
  allowFailure?: boolean;
  /** Milliseconds a new connection may take, login included. */
  connectTimeoutMs?: number;
}

/** Runs argv on a host; the providers receive it as a parameter so tests can inject a fake. */
export type Runner = (target: SshTarget, argv: string[], options?: RunOptions) => Promise<CommandResult>;

export const CONNECT_TIMEOUT_MS = 5_000;
export const COMMAND_TIMEOUT_MS = 60_000;
/** A healthy host on the LAN logs in within a few hundred milliseconds; a dead one must not hold up an EMERGENCY. */
export const PROBE_TIMEOUT_MS = 1_000;

/**
 * A sed expression printing the sender's MAC of each line arping prints: the first address in
 * brackets (an announcement, an ARP request, also names its target, ff:ff:ff:ff:ff:ff, after it).
 */
export const ARPING_SENDER_MAC = 's/^[^[]*\\[\\([^]]*\\)\\].*/\\1/p';

export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Runs a fixed shell script with config values as positional parameters ($1, $2, …), never inlined. */
export function script(text: string, ...args: string[]): string[] {
  return ['sh', '-c', text, 'sh', ...args];
}

function label(target: SshTarget): string {
  return `${target.host} (${target.user}@${target.address}:${target.port})`;
}

function poolKey(target: SshTarget): string {
  return `${target.user}@${target.address}:${target.port} ${target.hostKey}`;
}

function pool(): Map<string, Promise<Client>> {
  const holder = globalThis as { __sounzSshPool?: Map<string, Promise<Client>> };
  holder.__sounzSshPool ??= new Map();
  return holder.__sounzSshPool;
}

/**
 * The host-key algorithms to offer, so that the server presents the pinned key and no other. An RSA
 * key (`ssh-rsa` in the key line) signs with SHA-2 as rsa-sha2-512 or rsa-sha2-256 (RFC 8332, OpenSSH
 * 7.2 on); OpenSSH 8.8 on, Debian 12's sshd among them, no longer offers the SHA-1 signature that the
 * name `ssh-rsa` also stands for. Same key blob, other signatures: SHA-1 is offered last, for a server
 * older than OpenSSH 7.2, and never chosen over SHA-2 by a server that has both.
 */
function hostKeyAlgorithms(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

function connect(target: SshTarget, timeoutMs: number): Promise<Client> {
  const { Client: SshClient } = require('ssh2') as typeof import('ssh2');
  const [keyType, keyBase64] = target.hostKey.split(' ');
  const pinned = Buffer.from(keyBase64 ?? '', 'base64');
  return new Promise((resolve, reject) => {
    const client = new SshClient();
    let hostKeyMismatch = false;
    client
      .on('ready', () => resolve(client))
      .on('error', (error: Error) => {
        pool().delete(poolKey(target));
        const reason = hostKeyMismatch
          ? `its host key does not match the pinned ${keyType} key (refusing to talk to it)`
          : error.message.includes('Timed out') ? `no answer within ${timeoutMs / 1000} s`
            : error.message;
        reject(new Error(`${label(target)}: SSH connection failed: ${reason}`));
      })
      .on('close', () => pool().delete(poolKey(target)))
      .connect({
        host: target.address,
        port: target.port,
        username: target.user,
        privateKey: target.privateKey,
        readyTimeout: timeoutMs,
        keepaliveInterval: 5_000,
        keepaliveCountMax: 2,
        // Ask for the pinned key's type so that the server presents that very key.
        algorithms: { serverHostKey: hostKeyAlgorithms(keyType) as never[] },
        hostVerifier: (key: Buffer) => {
          hostKeyMismatch = !key.equals(pinned);
          return !hostKeyMismatch;
        },
      });
  });
}

function connection(target: SshTarget, timeoutMs: number): Promise<Client> {
  const key = poolKey(target);
  let client = pool().get(key);
  if (!client) {
    client = connect(target, timeoutMs);
    pool().set(key, client);
  }
  return client;
}

/** Closes every pooled connection (tests; the provider process just exits). */
export async function closeConnections(): Promise<void> {
  const clients = [...pool().values()];
  pool().clear();
  await Promise.all(clients.map((client) => client.then((c) => c.end(), () => undefined)));
}

export const runOverSsh: Runner = async (target, argv, options = {}) => {
  const client = await connection(target, options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
  const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
  const command = argv.map(shellQuote).join(' ');
  const what = `${argv[0] === 'sh' ? 'script' : argv[0]}`;
  const result = await new Promise<CommandResult>((resolve, reject) => {
    client.exec(command, (error: Error | undefined, stream: ClientChannel) => {
      if (error) {
        reject(new Error(`${label(target)}: could not start ${what}: ${error.message}`));
        return;
      }
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        stream.close();
        reject(new Error(`${label(target)}: ${what} did not finish within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      stream.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
      stream.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      stream.on('close', (code: number | null) => {
        clearTimeout(timer);
        resolve({ code: code ?? 255, stdout, stderr });
      });
      stream.end(options.stdin ?? '');
    });
  });
  if (result.code !== 0 && !options.allowFailure) {
    throw new Error(`${label(target)}: ${what} failed with exit code ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result;
};
