// "Replicate now": the nightly replication run at once, by the same sounz-replicate commands the
// cron jobs and the switch's data grab use, in the direction of the pair the stack last applied.
// Every run (landed or failed) is then recorded as a `pulumi refresh` whose message names the
// operator (components/operator.ts), so `pulumi stack history` lists it beside the switches, and
// whose re-run program records the new stamp in the output `lastReplication`.
//
//   npm run replicate-now -- [--stack NAME]      (the stack of the environment's backend)
import { parseArgs } from 'util';
import { continuousSettings } from '../model/continuous';
import { Host, HOSTS, Pair, pairText, roleOf, samePair, StackConfig } from '../model';
import { auditMessage, operatorOf } from '../components/operator';
import { replicate } from '../providers/replicationScript';
import { closeConnections, runOverSsh, sshTarget } from '../providers/ssh';
import { Engine, PROJECT_DIR } from './engine';
import { configFromEntries, programWith } from './program';
import { startWarmProvider } from './warmProvider';

export interface ReplicationRun {
  source: string;
  receiver: string;
  seconds: number;
  /** What the receiver kept of what the copy replaced (README: Replication). */
  kept: string[];
}

/** The stack's config as the program sees it, secrets decrypted. */
export async function stackConfigOf(engine: Engine): Promise<StackConfig> {
  return configFromEntries(await engine.config());
}

/** The pair the last successful `up` applied (the stack output `pair`). */
export async function appliedPair(engine: Engine): Promise<Pair> {
  return JSON.parse((await engine.run(['stack', 'output', 'pair', '--json'])).stdout) as Pair;
}

/** Which host sends and which receives; refused unless the config and the hosts agree (`applied`). */
export function replicationDirection(config: StackConfig, applied: Pair): { source: Host; receiver: Host } {
  const declared = { primary: config.primaryStatus, secondary: config.secondaryStatus };
  if (!samePair(declared, applied)) {
    throw new Error(`the config declares ${pairText(declared)} but the stack last applied ${pairText(applied)}: ` +
      'finish the switch (pulumi up) first');
  }
  if (continuousSettings(config).mode === 'continuous') {
    throw new Error('sounz:replication.mode is continuous: the database streams to the standby already, and its restore would be refused there');
  }
  const source = HOSTS.find((host) => roleOf(applied[host]).sendsReplication);
  const receiver = HOSTS.find((host) => roleOf(applied[host]).replicatesFromOther);
  if (!source || !receiver) throw new Error(`no replication runs in ${pairText(applied)}: only a production with a standby replicates`);
  return { source, receiver };
}

export async function replicateNow(config: StackConfig, applied: Pair): Promise<ReplicationRun> {
  const { source, receiver } = replicationDirection(config, applied);
  const started = Date.now();
  let kept: string[];
  try {
    kept = await replicate(runOverSsh, sshTarget(config[source], config.sshPrivateKey), sshTarget(config[receiver], config.sshPrivateKey),
      { wait: true, switching: false, timeoutSeconds: 1800 });
  } finally {
    await closeConnections();
  }
  return { source: config[source].name, receiver: config[receiver].name, seconds: (Date.now() - started) / 1000, kept };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { stack: { type: 'string' } } });
  const engine = new Engine({ projectDir: PROJECT_DIR, stack: values.stack ?? process.env.PULUMI_STACK ?? 'primary', ambient: true });
  const [config, applied] = await Promise.all([stackConfigOf(engine), appliedPair(engine)]);
  // A refusal runs nothing and records nothing.
  const { source, receiver } = replicationDirection(config, applied);
  const route = `${config[source].name} -> ${config[receiver].name}`;
  let outcome: string;
  let failure: Error | undefined;
  // The record's server starts while the copy runs.
  const provider = startWarmProvider(PROJECT_DIR);
  try {
    const run = await replicateNow(config, applied);
    console.log(`replicated ${route} in ${run.seconds.toFixed(1)} s`);
    console.log(`kept on ${run.receiver}: ${run.kept.join(' ') || 'nothing'}`);
    outcome = `${route} landed in ${run.seconds.toFixed(1)} s`;
  } catch (error) {
    failure = error as Error;
    outcome = `${route} FAILED: ${failure.message.split('\n')[0]}`;
  }
  await engine.refresh(auditMessage('REPLICATE-NOW', outcome, { operator: operatorOf(config.sshPrivateKey) }), ['--run-program'],
    { program: programWith(), provider });
  if (failure) throw failure;
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
