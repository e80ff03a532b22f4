// The README's main command: the runbook's whole story on the sandbox hosts through the real engine.
// NORMAL -> slayer dies -> EMERGENCY -> slayer repaired -> RECOVERY -> back to NORMAL, printing who
// answers on the service IP after each step, then `pulumi stack history`.
import * as sandbox from '../sandbox';
import { Pair } from '../model/pairs';
import { Engine } from './engine';
import { sandboxStack } from './sandboxStack';

const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);
const KIND = sandbox.HOST_KIND === 'debian' ? 'Debian 12 hosts booted with systemd' : 'namespace hosts';

async function step(engine: Engine, info: sandbox.SandboxInfo, message: string, pair: Pair): Promise<void> {
  await engine.setStatuses(pair);
  const started = Date.now();
  await engine.up(message);
  const took = seconds(started);
  const answer = (await sandbox.httpFromVantage(info.serviceIp))?.trim() ?? 'nobody';
  console.log(`${message.padEnd(28)} pulumi up ${took.padStart(5)} s   ${info.serviceIp} answered by: ${answer}`);
}

async function main(): Promise<void> {
  const upSince = Date.now();
  const info = await sandbox.up();
  console.log(`(sandbox: two ${KIND}, up in ${seconds(upSince)} s)`);
  const engine = await sandboxStack(info, 'demo');
  try {
    await step(engine, info, 'NORMAL', { primary: 'production', secondary: 'standby' });
    await sandbox.kill('slayer');
    console.log('(slayer killed: powered off, its addresses gone)');
    await step(engine, info, 'EMERGENCY: slayer died', { primary: 'down', secondary: 'production_alone' });
    const bootSince = Date.now();
    await sandbox.revive('slayer');
    console.log(`(slayer repaired and booted in ${seconds(bootSince)} s)`);
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
