// The project's folder (Pulumi.yaml, replication/, providers/scripts/) whether this code runs from its sources
// (ts-node, jest) or from the build in bin/ (the engine and the operator commands: precompiled, since
// ts-node took a second or more of every run), and whether that build is older than its sources.
import { existsSync, readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';

const here = join(__dirname, '..');
export const PROJECT_DIR = existsSync(join(here, 'Pulumi.yaml')) ? here : join(here, '..');
/** Whether this code is the build in bin/ rather than its sources. */
export const RUNS_FROM_BUILD = here !== PROJECT_DIR;
export const BUILD_DIR = join(PROJECT_DIR, 'bin');
/** The program's sources: what scripts/build.sh compiles, the folders and files of tsconfig.build.json's include. */
export function programSources(): string[] {
  const { include } = JSON.parse(readFileSync(join(PROJECT_DIR, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  return include.map((pattern) => pattern.replace(/\/\*\*\/\*\.ts$/, ''));
}

function files(path: string, wanted: (path: string) => boolean): string[] {
  if (!statSync(join(PROJECT_DIR, path)).isDirectory()) return wanted(path) ? [path] : [];
  return readdirSync(join(PROJECT_DIR, path)).flatMap((f) => files(join(path, f), wanted));
}

/**
 * The sources edited since the build this code runs from (none when it runs from its sources): the
 * engine would otherwise run yesterday's program without a word. `npm run build` (or any npm command
 * of the project) builds again.
 */
export function staleSources(): string[] {
  if (!RUNS_FROM_BUILD) return [];
  const compiled = programSources().flatMap((path) => files(path, (f) => f.endsWith('.ts'))).filter((source) => {
    const built = join(BUILD_DIR, source.replace(/\.ts$/, '.js'));
    return !existsSync(built) || statSync(built).mtimeMs < statSync(join(PROJECT_DIR, source)).mtimeMs;
  });
  // The host scripts travel inside the providers' code kept in bin/ (contract.ts): one edited since the build would not.
  const stamp = join(BUILD_DIR, '.built');
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  const scripts = files(join('providers', 'scripts'), () => true).filter((f) => statSync(join(PROJECT_DIR, f)).mtimeMs > built);
  return [...compiled, ...scripts];
}

/**
 * A shell script the providers or the preflight run on a host, from its own file under providers/scripts/
 * (read when the module loads: a provider's serialized code then carries the text itself).
 */
export function hostScript(name: string): string {
  return readFileSync(join(PROJECT_DIR, 'providers', 'scripts', name), 'utf8');
}
