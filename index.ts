// sounz-standby: the SOUNZ production/standby pair converged to the statuses in stack config.
// Read and validate the config, see what the hosts record, plan the switch from there, build the pair.
import * as pulumi from '@pulumi/pulumi';
import { ConfigError, continuousSettings, continuousStepText, describeStep, Host, HOSTS, hostsToDetach, otherHost, planUp } from './model';
import { SounzPair } from './components/pair';
import { operatorOf } from './components/operator';
import { observationText, observeHosts, Preflight, preflightRefusal } from './components/preflight';
import { lastApplied, readStackConfig, refuse } from './components/stack';
import { staleSources } from './providers/project';
import { closeConnections } from './providers/ssh';

// The CLI calls it without arguments; an operator command running it in-process passes the preflight it started.
export = async (preflight: Preflight = observeHosts) => {
  const stale = staleSources();
  if (stale.length > 0) return refuse(`Refused: the program in bin/ is older than ${stale.join(', ')}.\nInstead: npm run build, then run it again.`);
  let config;
  try {
    config = readStackConfig();
  } catch (error) {
    if (error instanceof ConfigError) return refuse(error.message);
    throw error;
  }
  const next = { primary: config.primaryStatus, secondary: config.secondaryStatus };
  const [last, observed] = await Promise.all([lastApplied(), preflight(config, next)]);
  await closeConnections();
  // What each host said, and the plan: the first lines an operator watching the switch sees (ops/progress.ts).
  for (const h of HOSTS) pulumi.log.info(`preflight: ${observationText(config[h].name, observed[h])}`);
  const refused = preflightRefusal(config, next, observed, last);
  if (refused) return refuse(`Refused: ${refused.reason}.\nInstead: ${refused.suggestion}`);
  const { mode } = continuousSettings(config);
  const situation = { observed, lastApplied: last };
  const plan = planUp(situation, next, { ip: config.serviceIp, device: config.serviceInterface }, mode);
  if (!plan.ok) return refuse(`Refused: ${plan.reason}.\nInstead: ${plan.suggestion}`);
  const steps = mode === 'nightly' ? plan.steps.map(describeStep) : continuousStepText(plan, describeStep);
  pulumi.log.info(`plan: ${plan.procedure}, generation ${plan.generation}${steps.length ? `: ${steps.join('; ')}` : ''}`);

  const pair = new SounzPair('sounz', { config, next, plan, detach: hostsToDetach(situation, plan, mode) });

  const name = (host: Host) => config[host].name;
  const partner = otherHost(plan.to);
  return {
    pair: next,
    procedure: plan.procedure,
    generation: plan.generation,
    serving: name(plan.to),
    standby: next[partner] === 'down' ? null : name(partner),
    untouched: plan.untouched.map(name),
    // The operator's fencing command, per host it ran for in this switch (sounz:fenceCommand).
    fencing: pair.fencing,
    steps,
    dataGrab: pair.dataGrab?.outcome ?? plan.grabSkipped ?? null,
    // sounz:replication.mode; in continuous mode the standby's lag, the handover or rebuild, the kept data directories.
    replication: pair.replication,
    checks: pair.checks.results,
    serviceIpHeldBy: pair.checks.results.apply((r) => (r['service IP on this host'] === 'ok' ? name(plan.to) : null)),
    // What an EMERGENCY switch now would lose: everything written on the server since this.
    lastReplication: pair.checks.lastReplication,
    // Each host's generations once this up succeeded: the next plan's fallback for a host that does not answer.
    records: plan.recordsAfter,
    // Who ran this up (OS user, SSH key): the backend records no user, and a plain `pulumi up` no operator.
    operator: operatorOf(config.sshPrivateKey),
  };
};
