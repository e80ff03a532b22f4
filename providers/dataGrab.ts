// DataGrab: "grab the latest data from Production" (runbook 3.1 step 3) before a host is promoted.
// The old production dumps its database, then the incoming host pulls the dump, the data areas and
// the Apollo index from the old production's rsync daemons and restores the dump: the same
// sounz-replicate commands as the nightly cron jobs (ReplicationScript installs them). A grab is an
// event: it runs when the switch it belongs to (its `reason`) changes; there is nothing to undo.
import * as pulumi from '@pulumi/pulumi';
import { checkInputs, connectionShape, ConnectionInputs, connectionProps, diffInputs, HostArgs, SECRET_OUTPUTS, targetOf } from './contract';
import { replicate } from './replicationScript';
import { Runner, runOverSsh } from './ssh';

export interface DataGrabInputs extends ConnectionInputs {
  /** The host the data comes from (the connection fields above are the host it goes to). */
  source: Omit<ConnectionInputs, 'privateKey'>;
  /** The switch this grab belongs to, e.g. "back to NORMAL: (production_as_standby, standby_as_production) -> (production, standby)". */
  reason: string;
  /** A best-effort grab (EMERGENCY) reports its failure instead of failing the switch. */
  mandatory: boolean;
}

interface DataGrabOutputs extends DataGrabInputs {
  outcome: string;
}

export function dataGrabProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const grab = async (inputs: DataGrabInputs): Promise<string> => {
    const source = targetOf({ ...inputs.source, privateKey: inputs.privateKey });
    try {
      // A mandatory grab waits out a nightly run and may take long; a best-effort one (EMERGENCY)
      // must not hold the switch up for long on a sick host.
      await replicate(run, source, targetOf(inputs), inputs.mandatory
        ? { wait: true, switching: true, timeoutSeconds: 1800 }
        : { wait: false, switching: true, timeoutSeconds: 120 });
      return `grabbed from ${inputs.source.host} at ${new Date().toISOString()}`;
    } catch (error) {
      if (inputs.mandatory) throw error;
      return `best-effort grab from ${inputs.source.host} failed: ${(error as Error).message}`;
    }
  };
  return {
    async check(_olds: DataGrabInputs, news: DataGrabInputs) {
      return checkInputs((z, g) => {
        const { privateKey: _, ...sourceShape } = connectionShape(g);
        return { source: z.object(sourceShape).strict(), reason: z.string().min(1), mandatory: z.boolean() };
      }, news);
    },
    async diff(_id: string, olds: DataGrabOutputs, news: DataGrabInputs) {
      return diffInputs(olds, news);
    },
    async create(inputs: DataGrabInputs) {
      return { id: `${inputs.source.host}->${inputs.host}`, outs: { ...inputs, outcome: await grab(inputs) } };
    },
    async update(_id: string, _olds: DataGrabOutputs, news: DataGrabInputs) {
      return { outs: { ...news, outcome: await grab(news) } };
    },
  };
}

export interface DataGrabArgs extends HostArgs {
  source: pulumi.Input<Omit<ConnectionInputs, 'privateKey'>>;
  reason: pulumi.Input<string>;
  mandatory: pulumi.Input<boolean>;
}

export class DataGrab extends pulumi.dynamic.Resource {
  declare readonly outcome: pulumi.Output<string>;

  constructor(name: string, args: DataGrabArgs, opts?: pulumi.CustomResourceOptions) {
    const { source, reason, mandatory } = args;
    super(dataGrabProvider(), name, { ...connectionProps(args), source, reason, mandatory, outcome: undefined },
      { ...opts, additionalSecretOutputs: SECRET_OUTPUTS });
  }
}
