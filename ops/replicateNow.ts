// "Replicate now": the nightly replication run at once, by the same sounz-replicate commands the
// cron jobs and the switch's data grab use. The direction follows the statuses in the stack config.
//
//   npm run replicate-now -- [--stack NAME]      (the stack of the environment's backend)
import { parseArgs } from 'util';
import { HOSTS, roleOf, StackConfig } from '../model';
import { stackConfigFrom } from '../components/stack';
import { REPLICATE_COMMAND } from '../providers/replicationScript';
import { closeConnections, runOverSsh, SshTarget } from '../providers/ssh';
import { Engine } from './engine';
import { PROJECT_DIR } from './sandboxStack';

export interface ReplicationRun {
  source: string;
  receiver: string;
  seconds: number;
}

/** The stack's config as the program sees it, secrets decrypted. */
export async function stackConfigOf(engine: Engine): Promise<StackConfig> {
  const { stdout } = await engine.run(['config', '--json', '--show-secrets']);
  const entries = JSON.parse(stdout) as Record<string, { value: string }>;
  return stackConfigFrom(Object.fromEntries(Object.entries(entries).map(([key, { value }]) => [key, value])));
}

export async function replicateNow(config: StackConfig): Promise<ReplicationRun> {
  const source = HOSTS.find((host) => roleOf(config[`${host}Status`]).sendsReplication);
  const receiver = HOSTS.find((host) => roleOf(config[`${host}Status`]).replicatesFromOther);
  if (!source || !receiver) {
    throw new Error(`no replication runs with primary ${config.primaryStatus} and secondary ${config.secondaryStatus}: ` +
      'only a production with a standby replicates');
  }
  const target = (host: typeof source): SshTarget => {
    const { name, address, sshPort, user, hostKey } = config[host];
    return { host: name, address, port: sshPort, user, hostKey, privateKey: config.sshPrivateKey };
  };
  const started = Date.now();
  try {
    await runOverSsh(target(source), [REPLICATE_COMMAND, '--wait', 'dump'], { timeoutMs: 1_200_000 });
    await runOverSsh(target(receiver), [REPLICATE_COMMAND, '--wait', 'pull-and-restore', config[source].address],
      { timeoutMs: 1_800_000 });
  } finally {
    await closeConnections();
  }
  return { source: config[source].name, receiver: config[receiver].name, seconds: (Date.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { stack: { type: 'string' } } });
  const engine = new Engine({ projectDir: PROJECT_DIR, stack: values.stack ?? process.env.PULUMI_STACK ?? 'primary', ambient: true });
  const run = await replicateNow(await stackConfigOf(engine));
  console.log(`replicated ${run.source} -> ${run.receiver} in ${run.seconds.toFixed(1)} s`);
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
