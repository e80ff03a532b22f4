// Which processes an engine run left behind, from /proc: for tests that kill a run half-way
// (the interrupted-up test, the switching test) and assert that nothing of it is left.
// A run's processes are found by their parent chain from the pulumi CLI, recorded while the run
// is going, and by the process groups they lead (the engine starts every plugin in one of its
// own), never by name, so other runs on the machine are not mistaken for this one. Use:
//
//   let cli = 0;
//   const up = engine.up(message, { signal: abort.signal, onSpawn: (pid) => { cli = pid; } });
//   ... once the run is where it should be killed:
//   const run = recordRun(cli);
//   abort.abort();                            // SIGKILL to the CLI
//   await expectRunEnded(run, 5_000);         // rejects naming the processes left
import { readdirSync, readFileSync } from 'fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** Start time in clock ticks since boot: with the pid, names one process even if the pid is reused. */
  start: string;
  /** R, S, D, Z (zombie: ended, not yet reaped), ... */
  state: string;
  command: string;
}

function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may hold spaces and parentheses: the fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return { pid, state: fields[0], ppid: Number(fields[1]), pgid: Number(fields[2]), start: fields[19], command };
  } catch {
    return undefined; // ended while we looked
  }
}

function allProcesses(): ProcessInfo[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name))
    .map((name) => readProcess(Number(name)))
    .filter((p): p is ProcessInfo => p !== undefined);
}

export interface RunProcesses {
  /** The run's root (the pulumi CLI) and all its descendants when recorded. */
  processes: ProcessInfo[];
  /** Process groups led by a process of the run. */
  groups: number[];
}

/** Records the processes of the run whose root process (the pulumi CLI) is `rootPid`, as they are now. */
export function recordRun(rootPid: number): RunProcesses {
  const all = allProcesses();
  const processes: ProcessInfo[] = [];
  let generation = all.filter((p) => p.pid === rootPid);
  while (generation.length > 0) {
    processes.push(...generation);
    const parents = new Set(generation.map((p) => p.pid));
    generation = all.filter((p) => parents.has(p.ppid));
  }
  const pids = new Set(processes.map((p) => p.pid));
  // The CLI itself stays in its parent's group (the test runner's): only groups the run leads count.
  const groups = [...new Set(processes.map((p) => p.pgid))].filter((pgid) => pids.has(pgid) && pgid !== rootPid);
  return { processes, groups };
}

/** Processes of the run still alive: recorded ones (same pid, same start) and any member of its groups. */
export function survivors(run: RunProcesses): ProcessInfo[] {
  const recorded = new Set(run.processes.map((p) => `${p.pid}/${p.start}`));
  const groups = new Set(run.groups);
  return allProcesses().filter((p) => p.state !== 'Z' && (recorded.has(`${p.pid}/${p.start}`) || groups.has(p.pgid)));
}

/**
 * Waits until no process of the run is left and resolves with how long that took (ms from the call);
 * rejects after `withinMs`, listing the processes still there.
 */
export async function expectRunEnded(run: RunProcesses, withinMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const left = survivors(run);
    const elapsed = Date.now() - start;
    if (left.length === 0) return elapsed;
    if (elapsed > withinMs) {
      throw new Error(`${left.length} process(es) of the run still there ${elapsed} ms after it was killed:\n`
        + left.map((p) => `  ${p.pid} (ppid ${p.ppid}, pgid ${p.pgid}, ${p.state}) ${p.command}`).join('\n'));
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
