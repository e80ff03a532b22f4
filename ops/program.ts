// The program as the operator commands run it: in their own process (ops/inline.ts) instead of in a
// language host's. A command has the CLI read the stack's config first, starts the preflight as soon as
// the config is known (the probe of a host declared down runs while the engine starts), then starts
// the CLI's up and loads @pulumi/pulumi and the program while it starts. Nothing here loads the SDK
// before that: the preflight and the config's parsing do without it.
import type { Preflight } from '../components/preflight';
import { ConfigError, StackConfig, stackConfigFrom } from '../model/config';
import type { Pair } from '../model/pairs';
import { Engine, markEngineLog } from './engine';
import type { ProgramLoader } from './inline';

/** The stack's config as `pulumi config --json --show-secrets` prints it. */
export type ConfigEntries = Record<string, { value?: string; secret: boolean }>;

export async function configEntries(engine: Engine): Promise<ConfigEntries> {
  return JSON.parse((await engine.run(['config', '--json', '--show-secrets'])).stdout) as ConfigEntries;
}

/** The config as the program parses it, with `pair` as the statuses when given (what `up --config` sets). */
export function configFromEntries(entries: ConfigEntries, pair?: Pair): StackConfig {
  const values = Object.fromEntries(Object.entries(entries).map(([key, { value }]) => [key, value ?? '']));
  if (pair) Object.assign(values, { 'sounz:primaryStatus': pair.primary, 'sounz:secondaryStatus': pair.secondary });
  return stackConfigFrom(values, Object.keys(entries).filter((key) => entries[key].secret));
}

/** The stack's config, read by the CLI while this process loads what comes next (SSH, gRPC). */
export async function prepare(engine: Engine): Promise<ConfigEntries> {
  markEngineLog('command started');
  const reading = configEntries(engine);
  require('../components/preflight');
  require('./inline');
  const config = await reading;
  markEngineLog('config read');
  return config;
}

/**
 * Why the program would refuse the config the up will read (`entries` with the statuses of `pair`):
 * the program's own check (parseStackConfig), run before the engine so that a wrong config is refused
 * in a second, with the same words. Undefined when the config is valid.
 */
export function configRefusal(entries: ConfigEntries, pair?: Pair): string | undefined {
  try {
    configFromEntries(entries, pair);
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
}

/** The preflight started now, for the config the up will read (a valid one: see configRefusal). */
export function preflightNow(entries: ConfigEntries, pair?: Pair): Preflight {
  const config = configFromEntries(entries, pair);
  const { observeHosts, startPreflight } = require('../components/preflight') as typeof import('../components/preflight');
  return startPreflight(config, { primary: config.primaryStatus, secondary: config.secondaryStatus },
    (c, n) => observeHosts(c, n).finally(() => markEngineLog('preflight observed both hosts')));
}

/** index.ts: the CLI runs it with no preflight, an operator command with the one it started. */
type Program = (preflight?: Preflight) => Promise<unknown>;

/** The program (index.ts) with `preflight`, loaded when the inline run has started the CLI. */
export function programWith(preflight?: Preflight): ProgramLoader {
  return () => {
    const program = require('../index') as Program;
    markEngineLog('program loaded');
    return () => {
      markEngineLog('program run by the engine');
      return program(preflight);
    };
  };
}
