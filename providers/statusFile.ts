// StatusFile: /etc/sounz/sounz.status holds exactly the host's status (runbook §2), and beside it the
// generation of the switch that set it (model/generation.ts). Written atomically (temp file in the same
// folder, then rename) so a reader never sees half a value; each change is appended to the general log
// with time, old -> new and the generation.
import * as pulumi from '@pulumi/pulumi';
import { GENERATION_DIR } from '../model/generation';
import { Status } from '../model/statuses';
import { checkInputs, ConnectionInputs, connectionProps, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { hostScript } from './project';
import { Runner, runOverSsh, script } from './ssh';

export interface StatusFileInputs extends ConnectionInputs {
  status: Status;
  /** The switch generation that declares this status. */
  generation: number;
  path: string;
  logPath: string;
}

interface StatusFileOutputs extends StatusFileInputs {
  /** True when this resource made the file, so that delete removes only what it made. */
  createdFile: boolean;
}

// Prints "created" when the file did not exist before, "written" or "unchanged" otherwise.
const WRITE = hostScript('status-write.sh');

const READ = `if [ -e "$1" ]; then cat "$1"; else echo '<absent>'; fi`;

export function statusFileProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const write = async (inputs: StatusFileInputs) =>
    (await run(targetOf(inputs), script(WRITE, inputs.path, inputs.status, inputs.logPath, String(inputs.generation),
      GENERATION_DIR))).stdout.trim();
  return {
    async check(_olds: StatusFileInputs, news: StatusFileInputs) {
      return checkInputs((z, g) => ({
        status: g.status,
        generation: z.number().int().nonnegative(),
        path: g.absolutePath.default('/etc/sounz/sounz.status'),
        logPath: g.absolutePath.default('/var/log/sounz/sounz-general.log'),
      }), news);
    },
    async diff(_id: string, olds: StatusFileOutputs, news: StatusFileInputs) {
      return diffInputs(olds, news, ['path']);
    },
    async create(inputs: StatusFileInputs) {
      const outs: StatusFileOutputs = { ...inputs, createdFile: (await write(inputs)) === 'created' };
      return { id: `${inputs.host}:${inputs.path}`, outs };
    },
    async read(id: string, props: StatusFileOutputs) {
      const content = (await run(targetOf(props), script(READ, props.path))).stdout.trim();
      if (content === '<absent>') return {};
      return { id, props: { ...props, status: content as Status } };
    },
    async update(_id: string, olds: StatusFileOutputs, news: StatusFileInputs) {
      await write(news);
      return { outs: { ...news, createdFile: olds.createdFile } };
    },
    async delete(_id: string, props: StatusFileOutputs) {
      if (props.createdFile) await run(targetOf(props), ['rm', '-f', props.path]);
    },
  };
}

export interface StatusFileArgs extends HostArgs {
  status: pulumi.Input<Status>;
  generation: pulumi.Input<number>;
}

/** The host's status file, converged to `status`. */
export class StatusFile extends HostResource {
  declare readonly status: pulumi.Output<Status>;

  constructor(name: string, args: StatusFileArgs, opts?: pulumi.CustomResourceOptions) {
    super('statusFile', statusFileProvider, name, {
      ...connectionProps(args), status: args.status, generation: args.generation, path: undefined, logPath: undefined,
    },
      { ...opts, additionalSecretOutputs: SECRET_OUTPUTS });
  }
}
