// ReplicationCron: the file in /etc/cron.d that a host's role needs — the nightly database dump on
// the replication source, the nightly pull-and-restore on the receiver — and no file where the role
// needs none (down, production_alone). cron runs each line through a shell, so every value in it is
// validated in `check`, in the stack config's grammar, to a form a shell reads literally.
import * as pulumi from '@pulumi/pulumi';
import { localTimeText, nextRun } from '../model/cron';
import { checkInputs, ConnectionInputs, connectionProps, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { REPLICATE_COMMAND } from '../model/hostPaths';
import { hostScript } from './project';
import { Runner, runOverSsh, script } from './ssh';

export type ReplicationJob = 'dump' | 'pull-and-restore' | 'pull-files';

export interface ReplicationCronInputs extends ConnectionInputs {
  /** Empty: the host runs no replication job and has no file. */
  jobs: ReplicationJob[];
  /** Five cron fields. */
  schedule: string;
  /** When `pull-files` runs (continuous mode: the data areas and the index, every few minutes). */
  filesSchedule?: string;
  /** The host the receiver pulls from. */
  source: string;
  /** The replication command the jobs run (installed by ReplicationScript). */
  command: string;
  file: string;
  /**
   * Filled in by `check`, so that `preview` shows it: when the jobs next run, computed from the time of
   * the preview in the operator's time zone (cron on the host reads the schedule in the host's). Not
   * compared by `diff`: it moves on by itself, and only says what the other inputs mean.
   */
  nextRun?: string;
}

/** What `nextRun` says for these jobs and schedule, from `now`. */
export function nextRunText(jobs: ReplicationJob[], schedule: string, now: Date = new Date()): string {
  if (jobs.length === 0) return 'never: this host runs no replication job';
  const next = nextRun(schedule, now);
  return next ? localTimeText(next) : 'never';
}

export function renderCronFile(inputs: ReplicationCronInputs): string {
  // No timeout(1) on the lines: every run of the command bounds itself (it runs again under timeout
  // with RUN_BOUND_SECONDS, from replication.conf), so cron, "replicate now" and a grab share one bound.
  const lines = inputs.jobs.map((job) => {
    const args = job === 'dump' ? 'dump' : `${job} ${inputs.source}`;
    const schedule = job === 'pull-files' ? inputs.filesSchedule : inputs.schedule;
    return `${schedule} root ${inputs.command} ${args} >>/var/log/sounz/sounz-general.log 2>&1`;
  });
  return [
    `# Managed by Pulumi (sounz-standby): nightly SOUNZ replication (${inputs.jobs.join(', ')}); edits are overwritten.`,
    'SHELL=/bin/sh',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ...lines,
    '',
  ].join('\n');
}

const WRITE = hostScript('replication-cron-write.sh');

const READ = `if [ -e "$1" ]; then cat "$1"; else printf '<absent>'; fi`;

export function replicationCronProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const path = (inputs: ReplicationCronInputs) => `/etc/cron.d/${inputs.file}`;
  const converge = async (inputs: ReplicationCronInputs) => {
    const argv = inputs.jobs.length > 0 ? script(WRITE, path(inputs)) : ['rm', '-f', path(inputs)];
    await run(targetOf(inputs), argv, { stdin: renderCronFile(inputs) });
  };
  return {
    async check(_olds: ReplicationCronInputs, news: ReplicationCronInputs) {
      const result = checkInputs((z, g) => ({
        jobs: z.array(z.enum(['dump', 'pull-and-restore', 'pull-files'])).max(2),
        schedule: g.cronSchedule,
        filesSchedule: g.cronSchedule.optional(),
        source: g.hostnameOrIp,
        command: g.absolutePath.default(REPLICATE_COMMAND),
        // cron ignores files in /etc/cron.d whose names contain dots.
        file: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a cron.d file name (letters, digits, _ and -)').default('sounz-replication'),
      }), news);
      if (result.failures?.length) return result;
      const inputs = result.inputs as ReplicationCronInputs;
      return { ...result, inputs: { ...inputs, nextRun: nextRunText(inputs.jobs, inputs.schedule) } };
    },
    async diff(_id: string, olds: ReplicationCronInputs, news: ReplicationCronInputs) {
      const { nextRun: _oldRun, ...oldInputs } = olds;
      const { nextRun: _newRun, ...newInputs } = news;
      return diffInputs(oldInputs, newInputs, ['file']);
    },
    async create(inputs: ReplicationCronInputs) {
      await converge(inputs);
      return { id: `${inputs.host}:${path(inputs)}`, outs: inputs };
    },
    async read(id: string, props: ReplicationCronInputs) {
      const content = (await run(targetOf(props), script(READ, path(props)))).stdout;
      if (content === '<absent>') return { id, props: { ...props, jobs: [] } };
      // A file other than the one we would write is drift; the schedule is where preview shows it.
      return { id, props: content === renderCronFile(props) ? props : { ...props, schedule: '(edited by hand)' } };
    },
    async update(_id: string, _olds: ReplicationCronInputs, news: ReplicationCronInputs) {
      await converge(news);
      return { outs: news };
    },
    async delete(_id: string, props: ReplicationCronInputs) {
      await run(targetOf(props), ['rm', '-f', path(props)]);
    },
  };
}

export interface ReplicationCronArgs extends HostArgs {
  jobs: pulumi.Input<ReplicationJob[]>;
  schedule: pulumi.Input<string>;
  filesSchedule?: pulumi.Input<string>;
  source: pulumi.Input<string>;
}

export class ReplicationCron extends HostResource {
  declare readonly jobs: pulumi.Output<ReplicationJob[]>;
  declare readonly nextRun: pulumi.Output<string>;

  constructor(name: string, args: ReplicationCronArgs, opts?: pulumi.CustomResourceOptions) {
    const { jobs, schedule, filesSchedule, source } = args;
    super('replicationCron', replicationCronProvider, name,
      { ...connectionProps(args), jobs, schedule, filesSchedule, source, command: undefined, file: undefined, nextRun: undefined },
      { ...opts, additionalSecretOutputs: SECRET_OUTPUTS });
  }
}
