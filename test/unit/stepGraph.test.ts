// The engine's resource dependency graph is the model's step graph (model/stepGraph.ts): the program's
// pair is built under Pulumi's mocks, each registered resource's dependencies (what the engine orders
// by) are read off the resource monitor, mapped to the step each resource carries out, and compared
// with the graph's edges, for every procedure in both replication modes, with and without fencing.
import * as pulumi from '@pulumi/pulumi';
import { getMonitor } from '@pulumi/pulumi/runtime/settings';
import { StackConfig, parseStackConfig } from '../../model/config';
import { hostsToDetach } from '../../model/continuous';
import { planUp } from '../../model/situation';
import { GraphStep, stepGraph } from '../../model/stepGraph';
import { HOSTS, Host } from '../../model/statuses';
import { SounzPair } from '../../components/pair';
import { MODES, SCENARIOS, SERVICE } from '../support/procedures';
import { BASE } from '../support/stackConfig';

interface Registered { name: string; custom: boolean; dependencies: string[] }
const registered: Registered[] = [];

beforeAll(async () => {
  await pulumi.runtime.setMocks({
    newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
    call: (args) => args.inputs,
  }, 'sounz-standby', 'mocks', true);
  // The mocks' monitor is the one the SDK sends each registration to: note what each depends on.
  const monitor = getMonitor() as unknown as { registerResource: (req: RegisterRequest, callback: unknown) => unknown };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    registered.push({ name: req.getName(), custom: req.getCustom(), dependencies: req.getDependenciesList() });
    return register(req, callback);
  };
  const monitorOutputs = monitor as unknown as { registerResourceOutputs: (req: OutputsRequest, callback: unknown) => unknown };
  const registerOutputs = monitorOutputs.registerResourceOutputs.bind(monitor);
  monitorOutputs.registerResourceOutputs = (req, callback) => {
    outputs.set(nameOfUrn(req.getUrn()), req.getOutputs()?.toJavaScript() ?? {});
    return registerOutputs(req, callback);
  };
});
interface RegisterRequest { getName(): string; getCustom(): boolean; getDependenciesList(): string[] }
interface OutputsRequest { getUrn(): string; getOutputs(): { toJavaScript(): Record<string, unknown> } | undefined }
const outputs = new Map<string, Record<string, unknown>>();
// Each test waits up to 10 s for the registrations to reach the mocks' monitor (the first one loads the
// components and the SDK's runtime: on a loaded machine, beside the sandbox bands, that took over 5 s).
jest.setTimeout(30_000);

const configOf = (mode: string, fencing: boolean): StackConfig => parseStackConfig({
  ...BASE, serviceIp: SERVICE.ip, replication: mode === 'continuous' ? { mode, password: 'not-a-real-password' } : { mode },
  ...(fencing ? { fenceCommand: ['ipmitool', '-H', '{host}-ipmi', 'chassis', 'power', 'off'] } : {}),
}, ['sshPrivateKey', 'replication']);

/** The step a resource (by its name) carries out: a host's role is its component and the component's children. */
function stepOf(config: StackConfig, name: string): string {
  const host = HOSTS.find((h) => name === config[h].name || name.startsWith(`${config[h].name}-`));
  if (name === 'sounz-data-grab') return 'data-grab';
  if (name === 'sounz-checks') return 'checks';
  if (host === undefined) throw new Error(`no step carries out ${name}`);
  const rest = name.slice(config[host].name.length);
  if (rest === '-replication-script') return `replication-script:${host}`;
  if (rest === '-fence') return `fence:${host}`;
  if (rest === '-streaming') return `streaming:${host}`;
  if (rest === '-service-ip') return `service-ip:${host}`;
  return `role:${host}`;
}
/** The graph's step ids as the resources name them (the release and the claim are one resource type, named by host; so are detach and streaming). */
const asNamed = (id: string) => id.replace(/^(release|claim):/, 'service-ip:').replace(/^detach:/, 'streaming:');
const nameOfUrn = (urn: string) => urn.split('::').pop()!;

async function engineGraph(config: StackConfig, build: () => unknown, expected: number): Promise<Map<string, Set<string>>> {
  registered.length = 0;
  build();
  // Each registration waits for the URNs of what it depends on: wait until all of them reached the monitor.
  for (let waited = 0; registered.filter((r) => r.name !== 'sounz').length < expected && waited < 10_000; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const graph = new Map<string, Set<string>>();
  for (const r of registered.filter((x) => x.name !== 'sounz')) {
    const step = stepOf(config, r.name);
    const after = graph.get(step) ?? new Set<string>();
    for (const urn of r.dependencies) after.add(stepOf(config, nameOfUrn(urn)));
    graph.set(step, after);
  }
  return graph;
}

/** Per step, the resources it registers: a host's role is a component and its five resources. */
const resourcesOf = (step: GraphStep) => (step.kind === 'role' ? 6 : 1);

for (const mode of MODES) {
  for (const fencing of [false, true]) {
    for (const scenario of SCENARIOS) {
      test(`${scenario.name}, ${mode}${fencing ? ', with a fencing command' : ''}: the engine's dependencies are the graph's edges`, async () => {
        const config = configOf(mode, fencing);
        const plan = planUp(scenario.situation, scenario.next, SERVICE, mode);
        if (!plan.ok) throw new Error(`refused: ${plan.reason}`);
        const detach = hostsToDetach(scenario.situation, plan, mode);
        const steps = stepGraph(plan, scenario.next, { mode, detach, fencing });
        const expected = steps.reduce((n, step) => n + resourcesOf(step), 0);
        const seen = await engineGraph(config, () => new SounzPair('sounz', { config, next: scenario.next, plan, detach }), expected);
        const wanted = new Map(steps.map((step) => [asNamed(step.id), new Set(step.after.map(asNamed))]));
        const sorted = (m: Map<string, Set<string>>) => Object.fromEntries([...m].map(([k, v]) => [k, [...v].sort()]).sort());
        expect(sorted(seen)).toEqual(sorted(wanted));
        // The fix of issue 24: the partner's role waits for the claim and the new server's role, so a
        // rolled-back claim, or a new server that reboots before its records say it serves, leaves it whole.
        const partner: Host = plan.to === 'primary' ? 'secondary' : 'primary';
        if (seen.has(`role:${partner}`)) expect([...seen.get(`role:${partner}`)!].sort()).toEqual([`role:${plan.to}`, `service-ip:${plan.to}`]);
      });
    }
  }
}

test('the pair and each host register their outputs: the fencing, the replication, the checks; the status and its generation', async () => {
  const scenario = SCENARIOS.find((s) => s.name === 'EMERGENCY, the primary dead')!;
  const config = configOf('nightly', true);
  const plan = planUp(scenario.situation, scenario.next, SERVICE, 'nightly');
  if (!plan.ok) throw new Error(plan.reason);
  outputs.clear();
  new SounzPair('sounz', { config, next: scenario.next, plan, detach: [] });
  for (let waited = 0; !(outputs.has('sounz') && outputs.has('megadeth')) && waited < 10_000; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(outputs.get('megadeth')).toEqual({ status: 'production_alone', generation: plan.generation });
  // The fence's and the checks' outcomes are unknown in a preview (the mocks preview): their keys are registered.
  expect(outputs.get('sounz')).toMatchObject({ replication: { mode: 'nightly' } });
  expect(Object.keys(outputs.get('sounz')!)).toEqual(expect.arrayContaining(['replication', 'fencing', 'checks']));
});
