/**
 * The ledger: state.json records everything the sandbox creates (namespaces, links, mountpoints, each
 * host's holder and namespace inodes) before it is created, so that down() removes just that. And the
 * operations lock: one sandbox operation at a time, in this process and across processes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { sleep } from './exec';
import { HostName, HostState, SLOT, State, STATE_DIR, STATE_FILE } from './layout';
import { pidAlive } from './processes';

export function readState(): State | undefined {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as State;
  } catch {
    return undefined;
  }
}
export function writeState(s: State): void {
  fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o755 });
  const tmp = STATE_FILE + '.tmp';
  fs.writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
  fs.renameSync(tmp, STATE_FILE);
}
export function newState(): State {
  return { version: 1, createdAt: new Date().toISOString(), netns: [], links: [], rootMountpoints: [], hosts: {} };
}
export function record<T>(list: T[], v: T): void {
  if (!list.includes(v)) list.push(v);
}

export function hostState(state: State, name: HostName): HostState {
  let h = state.hosts[name];
  if (!h) {
    h = { mntNs: [], alive: false, partitioned: false };
    state.hosts[name] = h;
  }
  return h;
}

export function loadOrNew(): State {
  return readState() ?? newState();
}
export function requireState(): State {
  const s = readState();
  if (!s) throw new Error('sandbox: not up (no state.json)');
  return s;
}

// ---------------------------------------------------------------- lock (one sandbox operation at a time, across processes)
const LOCK_DIR = `/run/lock/sounz-sandbox${SLOT ? `-${SLOT}` : ''}.lock`;
let inProcess: Promise<unknown> = Promise.resolve();
/** Serialise sandbox operations: in this process by a promise chain, across processes by an atomic lock dir. */
export function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const next = inProcess.then(() => withDirLock(fn));
  inProcess = next.catch(() => undefined);
  return next;
}
async function withDirLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10 * 60 * 1000;
  for (;;) {
    try {
      fs.mkdirSync(path.dirname(LOCK_DIR), { recursive: true });
      fs.mkdirSync(LOCK_DIR);
      fs.writeFileSync(path.join(LOCK_DIR, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = 0;
      try {
        owner = Number(fs.readFileSync(path.join(LOCK_DIR, 'pid'), 'utf8'));
      } catch {
        /* being written */
      }
      if (owner && owner !== process.pid && !pidAlive(owner)) fs.rmSync(LOCK_DIR, { recursive: true, force: true }); // stale
      if (Date.now() > deadline) throw new Error(`sandbox: ${LOCK_DIR} held by pid ${owner}`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(LOCK_DIR, { recursive: true, force: true });
  }
}
