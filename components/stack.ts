// What the program learns from the engine before it declares anything: the stack config and what this
// stack's last successful up recorded (its own previous outputs). The hosts' side is preflight.ts.
import * as pulumi from '@pulumi/pulumi';
import { parseStackConfig, StackConfig } from '../model/config';
import { Pair } from '../model/pairs';
import { LastApplied } from '../model/situation';

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
