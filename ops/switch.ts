// The operator's command for each runbook procedure (replacing the menus of switch-to-standby.sh and
// switch-to-production.sh): set the statuses, show `pulumi preview --diff`, ask (or --yes: no preview,
// no question), then `pulumi up --message "<PROCEDURE>: <reason> [operator <user>, key <fingerprint>;
// last copy <stamp>]"` so that `pulumi stack history` is the audit trail (components/operator.ts).
// It runs against the stack of the environment (PULUMI_BACKEND_URL, passphrase or secrets provider),
// with the program in this process (ops/program.ts): the same resources and state as `pulumi up`.
//
// The up's progress streams as it happens (ops/progress.ts), one line per step; --json makes each line
// a JSON object, for scripts.
//
//   npm run switch -- emergency <dead host> --reason "..." [--stack NAME] [--yes] [--json]
//   npm run switch -- recovery   --reason "..."     the repaired primary becomes the standby
//   npm run switch -- switchover --reason "..."     planned: the secondary serves, the primary is its standby
//   npm run switch -- normal     --reason "..."     back to NORMAL (or a repaired secondary back as standby)
import { createInterface } from 'readline/promises';
import { parseArgs } from 'util';
import { Pair, pairText } from '../model/pairs';
import { auditMessage, operatorOf } from '../components/operator';
import { Engine, PROJECT_DIR, PulumiError } from './engine';
import type { Preflight } from '../components/preflight';
import { prepare, preflightOrRefusal, programWith } from './program';
import { progress, startedAt, summaryOf } from './progress';
import { startWarmProvider } from './warmProvider';
import { closeConnections } from '../providers/ssh';

const USAGE = 'usage: npm run switch -- normal|recovery|switchover|emergency <dead host> --reason "..." [--stack NAME] [--yes] [--json]';

/** The statuses a procedure declares; `names` are the stack's machine names, primary first. */
export function pairFor(procedure: string, deadHost: string | undefined, names: [string, string]): Pair {
  switch (procedure) {
    case 'normal':
      return { primary: 'production', secondary: 'standby' };
    case 'recovery':
    case 'switchover':
      return { primary: 'production_as_standby', secondary: 'standby_as_production' };
    case 'emergency':
      if (deadHost === names[0]) return { primary: 'down', secondary: 'production_alone' };
      if (deadHost === names[1]) return { primary: 'production_alone', secondary: 'down' };
      throw new Error(`emergency needs the dead host: ${names.join(' or ')}\n${USAGE}`);
    default:
      throw new Error(USAGE);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { reason: { type: 'string' }, stack: { type: 'string' }, yes: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  });
  const [procedure, deadHost] = positionals;
  if (!procedure || !values.reason) throw new Error(USAGE);
  const shown = progress({ json: values.json, since: startedAt() });
  const engine = new Engine({ projectDir: PROJECT_DIR, stack: values.stack ?? process.env.PULUMI_STACK ?? 'primary', ambient: true });
  shown.say(`${procedure}${deadHost ? ` ${deadHost}` : ''} on stack ${engine.stack}`, { procedure, stack: engine.stack });
  // The config (its key names the operator). What the stack recorded of the last copy goes into the
  // audit message of a switch that asks first (read while the operator reads the preview); a --yes
  // switch does not wait for it: a second CLI run at the start cost an EMERGENCY 0.3 s on two cores
  // (bench/README.md), and the update's own lastReplication output names the copy a lone server holds.
  const prepared = await prepare(engine);
  const { config } = prepared;
  let { provider } = prepared;
  const recordedCopy = values.yes ? undefined : engine.output('lastReplication');
  const value = (key: string) => config[key]?.value ?? '';
  const name = (key: string) => (JSON.parse(value(key) || '{}') as { name?: string }).name ?? key;
  const pair = pairFor(procedure, deadHost, [name('sounz:primary'), name('sounz:secondary')]);
  const before = { primary: value('sounz:primaryStatus'), secondary: value('sounz:secondaryStatus') } as Pair;
  shown.say(`declaring ${pairText(pair)} (was ${pairText(before)})`, { pair, before });

  // A declined or refused switch leaves the config as the stack last had it: it changes nothing.
  const giveUp = async (why: string) => {
    await engine.setStatuses(before);
    throw new Error(`not switched: ${why}`);
  };
  // --yes is for a switch already decided (an EMERGENCY at 3 am): no preview, straight to up (which
  // sets the statuses itself), and up refuses a wrong switch just the same before it touches anything.
  // Its preflight (the probe of a dead host) starts now; after a question the up observes afresh.
  // A config the program would refuse is refused here, before the engine, with the program's words.
  const checked = preflightOrRefusal(config, pair, prepared.observe);
  if ('refusal' in checked) throw new Error(`${checked.refusal}\nnot switched: refused (above)`);
  let preflight: Preflight | undefined = checked.preflight;
  if (!values.yes) {
    await engine.setStatuses(pair);
    const preview = await engine.preview([], { allowFailure: true, program: programWith(preflight), provider });
    // The up's own server starts while the operator reads the preview.
    provider = startWarmProvider(PROJECT_DIR);
    process.stdout.write(preview.stdout + preview.stderr);
    if (preview.code !== 0) await giveUp('the preview was refused (above)');
    const prompt = createInterface({ input: process.stdin, output: process.stdout });
    const answer = await prompt.question(`Switch to ${pair.primary}/${pair.secondary} (${procedure})? [y/N] `);
    prompt.close();
    if (!/^y(es)?$/i.test(answer)) await giveUp('declined');
    preflight = undefined;
  }
  const statuses = ['--config', `sounz:primaryStatus=${pair.primary}`, '--config', `sounz:secondaryStatus=${pair.secondary}`];
  const lastCopy = await recordedCopy;
  const message = auditMessage(procedure.toUpperCase(), values.reason, { operator: operatorOf(value('sounz:sshPrivateKey')), lastCopy });
  shown.say('pulumi up: starting the engine');
  const result = await engine.up(message, { extra: statuses, program: programWith(preflight), provider, onEvent: (e) => shown.event(e) })
    .catch(async (error: PulumiError) => {
      // The CLI's own last words (the steps and the program's errors were shown as they came).
      process.stderr.write(error.result.stderr);
      if (error.result.stdout.includes('Refused: ')) await giveUp('refused (above)');
      throw new Error('the switch failed (above); fix the cause and run it again, or pulumi up');
    })
    .finally(() => shown.end());
  // The CLI's own summary: the outputs (who serves, the checks, the grab) and the resource counts.
  if (!values.json) process.stdout.write(summaryOf(result.stdout));
}


if (require.main === module) {
  // The preflight's SSH sessions end with the command, used or not (a refused config never takes them).
  main().finally(closeConnections).catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
