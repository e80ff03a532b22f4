// A switch you can watch: the engine's events (`pulumi up --event-log`, the stream the Automation API
// reads) as they happen, one line per step of the up: when a resource's step starts, when it ends and
// how long it took, what failed, and what the program says (the preflight's answer from each host, the
// plan). While steps run, a line every few seconds names the ones still running: a hung step shows as
// the step that hangs. `--json` writes each event as one JSON line instead, for scripts.
import type { EngineEvent, StepEventMetadata } from '@pulumi/pulumi/automation/events';

/** Seconds between the "still running" lines. */
export const STILL_RUNNING_EVERY_MS = 5_000;

export interface ProgressOptions {
  json: boolean;
  write?: (text: string) => void;
  /** The command's start (for the elapsed times); now if omitted. */
  since?: number;
}

export interface Progress {
  /** A line of the command's own (before the engine starts, or after it ends). */
  say(text: string, fields?: Record<string, unknown>): void;
  /** One engine event, as the event log gives it. */
  event(event: EngineEvent): void;
  /** No more events: stops the "still running" lines. */
  end(): void;
}

/** The resource's name in the program (`slayer-service-ip`), the last part of its URN. */
export function resourceName(urn: string): string {
  return urn.slice(urn.lastIndexOf('::') + 2);
}

/** Only the resources that do work on a host: the stack, components and providers do none. */
function isStep(metadata: StepEventMetadata): boolean {
  return metadata.type === 'pulumi-nodejs:dynamic:Resource';
}

const PAST: Record<string, string> = {
  create: 'created', update: 'updated', delete: 'deleted', replace: 'replaced', 'create-replacement': 'created (replacement)',
  'delete-replaced': 'deleted (replaced)', read: 'read', refresh: 'refreshed', same: 'unchanged',
};

/**
 * The command's start: when scripts/ops.sh began (it prints the first line, "reading the config of
 * stack ...", at once), else when node did.
 */
export function startedAt(): number {
  return Number(process.env.SOUNZ_STARTED_MS) || performance.timeOrigin;
}

export function progress(options: ProgressOptions): Progress {
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const since = options.since ?? Date.now();
  const elapsed = () => (Date.now() - since) / 1000;
  const running = new Map<string, { name: string; op: string; started: number }>();
  const line = (text: string, fields: Record<string, unknown>) => {
    if (options.json) write(`${JSON.stringify({ t: Number(elapsed().toFixed(3)), ...fields })}\n`);
    else write(`[${elapsed().toFixed(1).padStart(5)} s] ${text}\n`);
  };
  const ticker = setInterval(() => {
    if (running.size === 0) return;
    const now = Date.now();
    const names = [...running.values()].map((r) => `${r.name} (${r.op}, ${((now - r.started) / 1000).toFixed(0)} s)`);
    line(`still running: ${names.join(', ')}`, { running: [...running.values()].map((r) => r.name) });
  }, STILL_RUNNING_EVERY_MS);
  ticker.unref();

  return {
    say: (text, fields = {}) => line(text, { message: text, ...fields }),
    event(event) {
      const pre = event.resourcePreEvent;
      const done = event.resOutputsEvent;
      const failed = event.resOpFailedEvent;
      const diagnostic = event.diagnosticEvent;
      if (pre && isStep(pre.metadata) && pre.metadata.op !== 'same' && !pre.planning) {
        const name = resourceName(pre.metadata.urn);
        running.set(pre.metadata.urn, { name, op: pre.metadata.op, started: Date.now() });
        const changed = pre.metadata.diffs?.length ? `: ${pre.metadata.diffs.join(', ')}` : '';
        line(`${name}: ${pre.metadata.op}${changed} ...`, { step: name, op: pre.metadata.op, state: 'started', diffs: pre.metadata.diffs ?? [] });
      } else if (done && isStep(done.metadata) && done.metadata.op !== 'same' && !done.planning) {
        const name = resourceName(done.metadata.urn);
        const took = running.get(done.metadata.urn);
        running.delete(done.metadata.urn);
        const seconds = took ? (Date.now() - took.started) / 1000 : undefined;
        line(`${name}: ${PAST[done.metadata.op] ?? done.metadata.op}${seconds === undefined ? '' : ` (${seconds.toFixed(1)} s)`}`,
          { step: name, op: done.metadata.op, state: 'done', seconds });
        // The runbook's checks (providers/serviceChecks.ts), one line each.
        const results = done.metadata.new?.outputs?.results as Record<string, unknown> | undefined;
        for (const [check, outcome] of Object.entries(results ?? {})) {
          line(`${name}: ${check}: ${String(outcome)}`, { step: name, check, outcome });
        }
      } else if (failed && isStep(failed.metadata)) {
        const name = resourceName(failed.metadata.urn);
        running.delete(failed.metadata.urn);
        line(`${name}: ${failed.metadata.op} FAILED`, { step: name, op: failed.metadata.op, state: 'failed' });
      } else if (diagnostic && !diagnostic.ephemeral && diagnostic.severity !== 'debug') {
        const text = diagnostic.message.replace(/<\{%[^%]*%\}>/g, '').trimEnd();
        const where = diagnostic.urn ? `${resourceName(diagnostic.urn)}: ` : '';
        for (const row of text.split('\n')) line(`${where}${row}`, { diagnostic: diagnostic.severity, ...(where ? { step: resourceName(diagnostic.urn!) } : {}), message: row });
      } else if (event.summaryEvent) {
        const changes = Object.entries(event.summaryEvent.resourceChanges ?? {}).map(([op, n]) => `${n} ${PAST[op] ?? op}`).join(', ');
        line(`the engine is done: ${changes || 'no changes'} in ${event.summaryEvent.durationSeconds} s`,
          { summary: event.summaryEvent.resourceChanges ?? {}, seconds: event.summaryEvent.durationSeconds });
      }
    },
    end: () => clearInterval(ticker),
  };
}

/** The end of the CLI's output: the outputs and the resource counts (the steps were shown as they ran). */
export function summaryOf(stdout: string): string {
  const at = ['Outputs:', 'Resources:'].map((head) => stdout.indexOf(head)).find((i) => i >= 0);
  return at === undefined ? '' : stdout.slice(at);
}
