// sounz-standby: the SOUNZ production/standby pair converged to the statuses in stack config.
// Read and validate the config, plan the switch from the last applied pair, build the pair.
import * as pulumi from '@pulumi/pulumi';
import { ConfigError, describeStep, Host, otherHost, planSwitch } from './model';
import { SounzPair } from './components/pair';
import { lastAppliedPair, probeHostsDeclaredDown, readStackConfig } from './components/stack';
import { closeConnections } from './providers/ssh';

export = async () => {
  let config;
  try {
    config = readStackConfig();
  } catch (error) {
    if (error instanceof ConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
  const next = { primary: config.primaryStatus, secondary: config.secondaryStatus };
  const [previous, reachable] = await Promise.all([lastAppliedPair(), probeHostsDeclaredDown(config, next)]);
  await closeConnections();
  const plan = planSwitch(previous, next, reachable);
  if (!plan.ok) throw new pulumi.RunError(`Refused: ${plan.reason}.\nInstead: ${plan.suggestion}`);

  const pair = new SounzPair('sounz', { config, previous, next, plan });

  const name = (host: Host) => config[host].name;
  const partner = otherHost(plan.to);
  return {
    pair: next,
    procedure: plan.procedure,
    serving: name(plan.to),
    standby: next[partner] === 'down' ? null : name(partner),
    untouched: plan.untouched.map(name),
    steps: plan.steps.map(describeStep),
    dataGrab: pair.dataGrab?.outcome ?? null,
    checks: pair.checks.results,
    serviceIpHeldBy: pair.checks.results.apply((r) => (r['service IP on this host'] === 'ok' ? name(plan.to) : null)),
    // What an EMERGENCY switch now would lose: everything written on the server since this.
    lastReplication: pair.checks.lastReplication,
  };
};
