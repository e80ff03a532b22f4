// DataGrab: "grab the latest data from Production" (runbook 3.1 step 3) before a host is promoted.
// The old production dumps its database, then the incoming host pulls the dump, the data areas and
// the Apollo index from the old production's rsync daemons and restores the dump: the same
// sounz-replicate commands as the nightly cron jobs (ReplicationScript installs them). The final grab
// of a switch first freezes the old production's database (read-only: the site keeps answering, and
// nothing is written after the final dump); if a mandatory grab fails, it thaws it again, so the old
// production keeps serving as before. A grab is an event: it runs again in every switch generation.
import * as pulumi from '@pulumi/pulumi';
import { checkInputs, ConnectionInputs, connectionProps, connectionShape, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { REPLICATE_COMMAND } from '../model/hostPaths';
import { replicate } from './replicationScript';
import { Runner, runOverSsh } from './ssh';

export interface DataGrabInputs extends ConnectionInputs {
  /** The host the data comes from (the connection fields above are the host it goes to). */
  source: Omit<ConnectionInputs, 'privateKey'>;
  /** The switch this grab belongs to, e.g. "back to NORMAL: (production_as_standby, standby_as_production) -> (production, standby)". */
  reason: string;
  /** A best-effort grab (EMERGENCY) reports its failure instead of failing the switch. */
  mandatory: boolean;
  /** The final grab before the service moves: the source takes no writes from its final dump on. */
  final: boolean;
  /** The switch generation it belongs to. */
  generation: number;
}

interface DataGrabOutputs extends DataGrabInputs {
  outcome: string;
}

export function dataGrabProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const grab = async (inputs: DataGrabInputs): Promise<string> => {
    const source = targetOf({ ...inputs.source, privateKey: inputs.privateKey });
    // A best-effort grab (EMERGENCY) never stops the switch it serves: an old server that answers SSH
    // but cannot freeze or dump (read-only, full disk) is skipped, and the claim goes on.
    const skipped = (why: string) => `skipped: ${why}`;
    if (inputs.final) {
      const frozen = await run(source, [REPLICATE_COMMAND, 'freeze']).then(() => undefined, (error: Error) => error.message);
      if (frozen !== undefined) {
        if (inputs.mandatory) throw new Error(`the final data grab from ${inputs.source.host} to ${inputs.host} could not freeze its database: ${frozen}. ` +
          `${inputs.source.host} keeps the service IP: nothing changed for the site`);
        return skipped(`the freeze of ${inputs.source.host}'s database failed: ${frozen}`);
      }
    }
    try {
      // A mandatory grab waits out a nightly run and may take long; a best-effort one (EMERGENCY)
      // must not hold the switch up for long on a sick host.
      const kept = await replicate(run, source, targetOf(inputs), inputs.mandatory
        ? { wait: true, switching: true, timeoutSeconds: 1800 }
        : { wait: false, switching: true, timeoutSeconds: 120 });
      // What the copy replaced on the receiver is kept aside (sounz-replicate): say where.
      return `grabbed from ${inputs.source.host} at ${new Date().toISOString()}` +
        (kept.length > 0 ? `; kept on ${inputs.host}: ${kept.join(' ')}` : '');
    } catch (error) {
      if (inputs.mandatory) {
        const failure = (error as Error).message;
        const thawFailure = await run(source, [REPLICATE_COMMAND, 'thaw']).then(() => undefined, (e: Error) => e.message);
        const old = inputs.source.host;
        throw new Error(`the final data grab from ${old} to ${inputs.host} failed: ${failure}. ` + (thawFailure === undefined
          ? `${old} keeps the service IP and takes writes again: nothing changed for the site.`
          // Its database stays frozen, or it died during the grab: either way nobody takes writes.
          : `NOBODY SERVES writes: ${old} keeps the service IP read-only, its database could not be made writable again ` +
            `(${thawFailure}). If ${old} answers, run ${REPLICATE_COMMAND} thaw there; if it is down, the next step is an ` +
            `EMERGENCY: npm run switch -- emergency ${old} --reason "..." (${inputs.host} then serves what it received last).`));
      }
      return skipped(`the best-effort grab from ${inputs.source.host} failed: ${(error as Error).message}`);
    }
  };
  return {
    async check(_olds: DataGrabInputs, news: DataGrabInputs) {
      return checkInputs((z, g) => {
        const { privateKey: _, ...sourceShape } = connectionShape(g);
        return {
          source: z.object(sourceShape).strict(), reason: z.string().min(1), mandatory: z.boolean(), final: z.boolean(),
          generation: z.number().int().nonnegative(),
        };
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
  final: pulumi.Input<boolean>;
  generation: pulumi.Input<number>;
}

export class DataGrab extends HostResource {
  declare readonly outcome: pulumi.Output<string>;

  constructor(name: string, args: DataGrabArgs, opts?: pulumi.CustomResourceOptions) {
    const { source, reason, mandatory, final, generation } = args;
    super('dataGrab', dataGrabProvider, name, { ...connectionProps(args), source, reason, mandatory, final, generation, outcome: undefined },
      { ...opts, additionalSecretOutputs: SECRET_OUTPUTS });
  }
}
