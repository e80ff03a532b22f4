// The README's main command: the runbook's whole story on the sandbox hosts through the real engine.
// NORMAL -> slayer dies -> EMERGENCY -> slayer repaired -> RECOVERY -> back to NORMAL, printing who
// answers on the service IP after each step, then `pulumi stack history`.
import * as sandbox from '../sandbox';
import { Pair } from '../model/pairs';
import { Engine } from './engine';
import { sandboxStack } from './sandboxStack';

async function step(engine: Engine, info: sandbox.SandboxInfo, message: string, pair: Pair): Promise<void> {
  await engine.setStatuses(pair);
  const started = Date.now();
  await engine.up(message);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const answer = (await sandbox.httpFromVantage(info.serviceIp))?.trim() ?? 'nobody';
  console.log(`${message.padEnd(28)} pulumi up ${seconds.padStart(5)} s   ${info.serviceIp} answered by: ${answer}`);
}

async function main(): Promise<void> {
  const info = await sandbox.up();
  const engine = await sandboxStack(info, 'demo');
  try {
    await step(engine, info, 'NORMAL', { primary: 'production', secondary: 'standby' });
    await sandbox.kill('slayer');
    console.log('(slayer killed: its processes ended, its addresses gone)');
    await step(engine, info, 'EMERGENCY: slayer died', { primary: 'down', secondary: 'production_alone' });
    await sandbox.revive('slayer');
    console.log('(slayer repaired and booted)');
    await step(engine, info, 'RECOVERY: slayer repaired', { primary: 'production_as_standby', secondary: 'standby_as_production' });
    await step(engine, info, 'back to NORMAL', { primary: 'production', secondary: 'standby' });
    console.log((await engine.run(['stack', 'history'])).stdout);
  } finally {
    await engine.dispose({ destroy: false });
    await sandbox.down();
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
