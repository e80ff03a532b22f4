// What the program learns before it declares anything: the stack config, the pair this stack last
// applied (its own previous outputs), and whether each host declared down still answers.
import * as pulumi from '@pulumi/pulumi';
import { parseStackConfig, StackConfig } from '../model/config';
import { Pair } from '../model/pairs';
import { HOSTS, Reachability } from '../model';
import { probe } from '../providers/ssh';
import { sshTarget } from './host';

const NAMESPACE = 'sounz:';

/** The stack config from `namespace:key` -> text entries: objects and lists are stored as JSON text. */
export function stackConfigFrom(entries: Record<string, string>): StackConfig {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entries)) {
    if (!key.startsWith(NAMESPACE)) continue;
    raw[key.slice(NAMESPACE.length)] = /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  return parseStackConfig(raw);
}

export function readStackConfig(): StackConfig {
  return stackConfigFrom(pulumi.runtime.allConfig());
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
