// What the program learns before it declares anything: the stack config, the pair this stack last
// applied (its own previous outputs), and whether each host declared down still answers.
import * as pulumi from '@pulumi/pulumi';
import { parseStackConfig, StackConfig } from '../model/config';
import { Pair } from '../model/pairs';
import { HOSTS, Reachability } from '../model';
import { probe } from '../providers/ssh';
import { sshTarget } from './host';

const NAMESPACE = 'sounz:';

/**
 * The stack config from `namespace:key` -> text entries: objects and lists are stored as JSON text.
 * `secretKeys` (`namespace:key`) are those the stack keeps secret: no error quotes their values.
 */
export function stackConfigFrom(entries: Record<string, string>, secretKeys: readonly string[] = []): StackConfig {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entries)) {
    if (!key.startsWith(NAMESPACE)) continue;
    raw[key.slice(NAMESPACE.length)] = /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  const secret = secretKeys.filter((key) => key.startsWith(NAMESPACE)).map((key) => key.slice(NAMESPACE.length));
  return parseStackConfig(raw, secret);
}

/**
 * Which config keys the stack marks secret. @pulumi/pulumi has this as `runtime.isConfigSecret` (it
 * reads PULUMI_CONFIG_SECRET_KEYS, which the language host sets) but keeps it out of its typings.
 */
const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret(key: string): boolean }).isConfigSecret;

export function readStackConfig(): StackConfig {
  const entries = pulumi.runtime.allConfig();
  return stackConfigFrom(entries, Object.keys(entries).filter((key) => isConfigSecret(key)));
}

/** The pair the last successful `up` of this very stack applied; undefined on the first one. */
export async function lastAppliedPair(): Promise<Pair | undefined> {
  const self = new pulumi.StackReference(`organization/${pulumi.getProject()}/${pulumi.getStack()}`);
  return (await self.getOutputDetails('pair')).value as Pair | undefined;
}

/** One short SSH login to each host declared down: the only contact such a host gets. */
export async function probeHostsDeclaredDown(config: StackConfig, next: Pair): Promise<Reachability> {
  const reachable: Reachability = {};
  await Promise.all(HOSTS.filter((host) => next[host] === 'down').map(async (host) => {
    reachable[host] = await probe(sshTarget(config[host], config.sshPrivateKey));
  }));
  return reachable;
}
