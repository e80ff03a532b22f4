// The program as the operator commands run it: in their own process (ops/inline.ts) instead of in a
// language host's, loaded while the CLI reads the stack's config, and with the preflight started as
// soon as the config is known, so that the probe of a host declared down overlaps the engine's start.
// Nothing here loads @pulumi/pulumi at import: the commands start the CLI first, then load it.
import type { Preflight } from '../components/preflight';
import { ConfigError, StackConfig, stackConfigFrom } from '../model/config';
import type { Pair } from '../model/pairs';
import { Engine, markEngineLog } from './engine';

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

/** index.ts: the CLI runs it with no preflight, an operator command with the one it started. */
export type Program = (preflight?: Preflight) => Promise<unknown>;

export interface LoadedProgram {
  /** The program to run in this process: it observes the hosts itself. */
  fresh: () => Promise<unknown>;
  /**
   * The program with its preflight started now, for the config the up will read (`entries` with the
   * statuses of `pair`). A config the program refuses starts nothing: the up says why.
   */
  withPreflightNow(entries: ConfigEntries, pair?: Pair): () => Promise<unknown>;
}

/** Loads the program (node has @pulumi/pulumi and the program to load: about a second, in this process). */
export function loadProgram(): LoadedProgram {
  const program = require('../index') as Program;
  const { observeHosts, startPreflight } = require('../components/preflight') as typeof import('../components/preflight');
  return {
    fresh: () => program(),
    withPreflightNow(entries, pair) {
      let config: StackConfig;
      try {
        config = configFromEntries(entries, pair);
      } catch (error) {
        if (error instanceof ConfigError) return () => program();
        throw error;
      }
      const preflight = startPreflight(config, { primary: config.primaryStatus, secondary: config.secondaryStatus },
        (c, n) => observeHosts(c, n).finally(() => markEngineLog('preflight observed both hosts')));
      return () => {
        markEngineLog('program run by the engine');
        return program(preflight);
      };
    },
  };
}

/** The stack's config, read by the CLI while this process loads the program. */
export async function prepare(engine: Engine): Promise<{ config: ConfigEntries; program: LoadedProgram }> {
  markEngineLog('command started');
  const reading = configEntries(engine);
  const program = loadProgram();
  markEngineLog('program loaded');
  const config = await reading;
  markEngineLog('config read');
  return { config, program };
}
