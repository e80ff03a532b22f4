// What the program learns from the engine before it declares anything: the stack config and what this
// stack's last successful up recorded (its own previous outputs). The hosts' side is preflight.ts.
import * as pulumi from '@pulumi/pulumi';
import { StackConfig, stackConfigFrom } from '../model/config';
import { Pair } from '../model/pairs';
import { LastApplied } from '../model/situation';

/**
 * Which config keys the stack marks secret. @pulumi/pulumi has this as `runtime.isConfigSecret` (it
 * reads PULUMI_CONFIG_SECRET_KEYS, which the language host sets) but keeps it out of its typings.
 */
const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret(key: string): boolean }).isConfigSecret;

export function readStackConfig(): StackConfig {
  const entries = pulumi.runtime.allConfig();
  return stackConfigFrom(entries, Object.keys(entries).filter((key) => isConfigSecret(key)));
}

/** What the last successful `up` of this very stack recorded (its outputs); undefined before the first one. */
export async function lastApplied(): Promise<LastApplied | undefined> {
  const self = new pulumi.StackReference(`organization/${pulumi.getProject()}/${pulumi.getStack()}`);
  const [pair, generation, records] = await Promise.all(['pair', 'generation', 'records'].map(async (name) =>
    (await self.getOutputDetails(name)).value));
  return pair === undefined ? undefined : { pair: pair as Pair, generation: generation as number | undefined, records };
}

/**
 * Stops the program with `message` and nothing else. The error carries no stack: the SDK's handler
 * renders a stack with `util.inspect(..., { colors: true })` for its trace even though it shows a
 * RunError's message alone, and on Node.js 20 that takes some 20 s for a stack through node_modules.
 */
export function refuse(message: string): never {
  const error = new pulumi.RunError(message);
  error.stack = undefined;
  throw error;
}
