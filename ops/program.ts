// The program as the operator commands run it: in their own process (ops/inline.ts) instead of in a
// language host's. A command starts the CLI's read of the stack's config, the dynamic-provider server
// and the preflight's worker at its first instant; it starts the preflight as soon as the config is
// known (the probe of a host declared down runs while the engine starts), then the CLI's up, and loads
// @pulumi/pulumi and the program while that CLI starts. The preflight and the config's parsing do
// without the SDK. The CLI is the only reader of the stack (its config, outputs and history).
import type { Preflight } from '../components/preflight';
import { ConfigError, StackConfig, stackConfigFrom } from '../model/config';
import type { Pair } from '../model/pairs';
import { ConfigEntries, markEngineLog, type Engine } from './engine';
import type { ProgramLoader } from './inline';
import { preflightWorker } from './preflightWorker';
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

/** The stack's config (the CLI's read), and the dynamic-provider server and the preflight's worker, started meanwhile. */
export async function prepare(engine: Engine): Promise<Prepared> {
  markEngineLog('command started');
  const reading = engine.config();
  const provider = startWarmProvider(engine.projectDir);
  const observe = preflightWorker();
  // While the CLI reads the config: the inline run's server and, for the operator's key fingerprint in
  // the up's message, ssh2. The program loads once the up has started (programWith).
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
      // The config changed between this command's read and the engine's: the program observes afresh.
      () => markEngineLog("the engine's config differs from the command's read")),
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
