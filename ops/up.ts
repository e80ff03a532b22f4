// The operator's `pulumi up` and `pulumi preview --diff` of the stack's config as it stands, with the
// program in this process (ops/program.ts): the same resources, state and history as the plain CLI's,
// in about half its time. `up` names the operator in the update's message, as `switch` does.
//
//   npm run up -- --reason "..." [--stack NAME]
//   npm run preview -- [--stack NAME]        (up --preview)
import { parseArgs } from 'util';
import { auditMessage, operatorOf } from '../components/operator';
import { closeConnections } from '../providers/ssh';
import { Engine, PROJECT_DIR } from './engine';
import { confirmedRefusal, prepare, preflightOrRefusal, programWith } from './program';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reason: { type: 'string' }, stack: { type: 'string' }, preview: { type: 'boolean', default: false } } });
  if (!values.preview && !values.reason) throw new Error('usage: npm run up -- --reason "..." [--stack NAME]');
  const engine = new Engine({ projectDir: PROJECT_DIR, stack: values.stack ?? process.env.PULUMI_STACK ?? 'primary', ambient: true });
  const { config, provider, observe } = await prepare(engine);
  // A config the program would refuse is refused here, before the engine, with the program's words.
  const started = preflightOrRefusal(config, undefined, observe);
  if ('refusal' in started) throw new Error(await confirmedRefusal(engine, config, started.refusal));
  const program = programWith(started.preflight);
  const result = values.preview
    ? await engine.preview([], { program, provider })
    : await engine.up(auditMessage('UP', values.reason ?? '', { operator: operatorOf(config['sounz:sshPrivateKey']?.value ?? '') }),
      { program, provider });
  process.stdout.write(result.stdout);
}

if (require.main === module) {
  main().finally(closeConnections).catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
