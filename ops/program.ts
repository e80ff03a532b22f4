// The program as the operator commands run it: in their own process (ops/inline.ts) instead of in a
// language host's. A command starts the dynamic-provider server and the preflight's worker and reads the
// stack's config itself (ops/stackConfig.ts); it starts the preflight as soon as the config is known
// (the probe of a host declared down runs while the engine starts), then the CLI's up, and loads
// @pulumi/pulumi and the program while that CLI starts. The preflight and the config's parsing do
// without the SDK.
import type { Preflight } from '../components/preflight';
import { ConfigError, StackConfig, stackConfigFrom } from '../model/config';
import type { Pair } from '../model/pairs';
import { markEngineLog, type Engine } from './engine';
import type { ProgramLoader } from './inline';
import { preflightWorker } from './preflightWorker';
import { configByCli, configEntries, ConfigEntries, readInProcess } from './stackConfig';
import { startWarmProvider, WarmProvider } from './warmProvider';

/** The config as the program parses it, with `pair` as the statuses when given (what `up --config` sets). */
export function configFromEntries(entries: ConfigEntries, pair?: Pair): StackConfig {
  const values = Object.fromEntries(Object.entries(entries).map(([key, { value }]) => [key, value ?? '']));
  if (pair) Object.assign(values, { 'sounz:primaryStatus': pair.primary, 'sounz:secondaryStatus': pair.secondary });
  return stackConfigFrom(values, Object.keys(entries).filter((key) => entries[key].secret));
}

/** What a command starts with: the stack's config, the provider's server and the preflight's worker. */
export interface Prepared {
  config: ConfigEntries;
  /** For the command's first run. */
  provider: WarmProvider;
  /** The preflight's observation, by a worker that is ready (preflightOrRefusal). */
  observe: Preflight;
}

/**
 * The stack's config (read in this process, else by the CLI: ops/stackConfig.ts), and the
 * dynamic-provider server and the preflight's worker, started meanwhile.
 */
export async function prepare(engine: Engine): Promise<Prepared> {
  markEngineLog('command started');
  const provider = startWarmProvider(engine.projectDir);
  const reading = configEntries(engine);
  const observe = preflightWorker();
  // While the passphrase's key is derived (libuv's pool): the inline run's server and, for the operator's
  // key fingerprint in the up's message, ssh2. The program loads once the up has started (programWith).
  require('./inline');
  require('ssh2');
  const config = await reading;
  markEngineLog('config read');
  return { config, provider, observe };
}

/**
 * The preflight started now, for the config the up will read (`entries` with the statuses of `pair`);
 * or why the program would refuse that config: its own check (parseStackConfig), run before the engine
 * so that a wrong config is refused in a second, in the same words.
 */
export function preflightOrRefusal(entries: ConfigEntries, pair?: Pair, observe?: Preflight): { preflight: Preflight } | { refusal: string } {
  const parsed = parsedOrRefusal(entries, pair);
  if ('refusal' in parsed) return parsed;
  const { config } = parsed;
  const { observeHosts, startPreflight } = require('../components/preflight') as typeof import('../components/preflight');
  return {
    preflight: startPreflight(config, { primary: config.primaryStatus, secondary: config.secondaryStatus },
      (c, n) => (observe ?? observeHosts)(c, n).finally(() => markEngineLog('preflight observed both hosts')),
      (engines) => {
        // The config changed since the command read it, or the command read it otherwise than the engine.
        const all = [...new Set([...Object.keys(engines), ...Object.keys(config)])] as (keyof StackConfig)[];
        const keys = all.filter((key) => JSON.stringify(engines[key]) !== JSON.stringify(config[key])).join(', ') || 'the order of its keys only';
        markEngineLog(`the engine's config differs in ${keys}`);
        console.error(`warning: the engine's config differs from the one this command read before it (${keys}): the up goes on with the engine's; `
          + 'if nobody changed the config meanwhile, run operator commands with SOUNZ_CONFIG_BY_CLI=1 and report it (ops/stackConfig.ts).');
      }),
  };
}

function parsedOrRefusal(entries: ConfigEntries, pair?: Pair): { config: StackConfig } | { refusal: string } {
  try {
    return { config: configFromEntries(entries, pair) };
  } catch (error) {
    if (error instanceof ConfigError) return { refusal: error.message };
    throw error;
  }
}

/**
 * A refusal of the config the command read itself, confirmed by the CLI's read before it is given: a
 * fault of that reader must not stop a switch unexplained. The CLI's read refused too: its words; else
 * what happened and the way round it. Nothing was changed either way.
 */
export async function confirmedRefusal(engine: Engine, entries: ConfigEntries, refusal: string, pair?: Pair): Promise<string> {
  if (!readInProcess(entries)) return refusal;
  let cli: ReturnType<typeof parsedOrRefusal>;
  try {
    cli = parsedOrRefusal(await configByCli(engine), pair);
  } catch (error) {
    return `${refusal}\n(The CLI's read of the config, to confirm this refusal, failed: ${(error as Error).message.trim()})`;
  }
  if ('refusal' in cli) return cli.refusal;
  markEngineLog('the CLI reads a config this command refused');
  return `Refused by this command's own read of the stack's config, which the CLI reads otherwise (a fault of ops/stackConfig.ts): ${refusal}
`
    + 'Nothing was changed. Instead: run the same command again with SOUNZ_CONFIG_BY_CLI=1, and report it.';
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
