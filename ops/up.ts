// The operator's `pulumi up` and `pulumi preview --diff` of the stack's config as it stands, with the
// program in this process (ops/program.ts): the same resources, state and history as the plain CLI's,
// in about half its time. `up` names the operator in the update's message, as `switch` does.
//
//   npm run up -- --reason "..." [--stack NAME] [--json]      (its steps shown as they run: ops/progress.ts)
//   npm run preview -- [--stack NAME]        (up --preview)
import { parseArgs } from 'util';
import { auditMessage, operatorOf } from '../components/operator';
import { closeConnections } from '../providers/ssh';
import { Engine, PROJECT_DIR } from './engine';
import { prepare, preflightOrRefusal, programWith } from './program';
import { progress, startedAt, summaryOf } from './progress';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reason: { type: 'string' }, stack: { type: 'string' }, preview: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false } } });
  if (!values.preview && !values.reason) throw new Error('usage: npm run up -- --reason "..." [--stack NAME] [--json]');
  const engine = new Engine({ projectDir: PROJECT_DIR, stack: values.stack ?? process.env.PULUMI_STACK ?? 'primary', ambient: true });
  // The preview prints its diff at the end; an up shows its steps as they run.
  const shown = values.preview ? undefined : progress({ json: values.json, since: startedAt() });
  const { config, provider, observe } = await prepare(engine);
  // A config the program would refuse is refused here, before the engine, with the program's words.
  const started = preflightOrRefusal(config, undefined, observe);
  if ('refusal' in started) throw new Error(started.refusal);
  const program = programWith(started.preflight);
  if (!shown) {
    process.stdout.write((await engine.preview([], { program, provider })).stdout);
    return;
  }
  shown.say('pulumi up: starting the engine');
  const result = await engine.up(auditMessage('UP', values.reason ?? '', { operator: operatorOf(config['sounz:sshPrivateKey']?.value ?? '') }),
    { program, provider, onEvent: (e) => shown.event(e) }).finally(() => shown.end());
  if (!values.json) process.stdout.write(summaryOf(result.stdout));
}

if (require.main === module) {
  main().finally(closeConnections).catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
