// The preflight as the operator commands start it (before the engine is up) and the ARP probe of a
// host declared down: no engine, no hosts (the runner and the probe are injected).
import { observeHosts, startPreflight } from '../../components/preflight';
import { parseStackConfig } from '../../model';
import { configFromEntries, preflightOrRefusal } from '../../ops/program';
import { fakeRunner } from '../support/fakeRunner';
import { BASE, configEntriesOf } from '../support/stackConfig';

const config = parseStackConfig(BASE);
const EMERGENCY = { primary: 'down', secondary: 'production_alone' } as const;
const NORMAL = { primary: 'production', secondary: 'standby' } as const;
const NOBODY = { primary: { reachable: false, error: 'x' }, secondary: { reachable: false, error: 'y' } } as const;

describe('the ARP probe of a host declared down', () => {
  test('no ARP answer: unreachable at once, no SSH login tried', async () => {
    const { run, calls } = fakeRunner(() => ({ stdout: 'status=production_alone\n' }));
    const probed: string[] = [];
    const observed = await observeHosts({ ...config, primaryStatus: 'down', secondaryStatus: 'production_alone' }, EMERGENCY, run,
      async (address) => { probed.push(address); return false; });
    expect(probed).toEqual(['slayer.example.net']);
    expect(observed.primary).toEqual({ reachable: false, error: 'slayer: no ARP answer from slayer.example.net within 0.45 s' });
    expect(calls.map((c) => c.host)).toEqual(['megadeth']);
  });

  test.each([[true], [undefined]])('an ARP answer (%s) or none to tell: the SSH probe decides, with its short timeout', async (arp) => {
    const { run, calls } = fakeRunner(() => ({ stdout: 'status=down\n' }));
    const observed = await observeHosts(config, EMERGENCY, run, async () => arp);
    expect(observed.primary).toMatchObject({ reachable: true, facts: { status: 'down' } });
    expect(calls.find((c) => c.host === 'slayer')?.options?.connectTimeoutMs).toBe(1_000);
  });

  test('a host that answers ARP but not SSH is unreachable after the SSH probe', async () => {
    const { run } = fakeRunner((call) => (call.host === 'slayer' ? { code: 255, stderr: 'no answer within 1 s' } : {}));
    const observed = await observeHosts(config, EMERGENCY, run, async () => true);
    expect(observed.primary).toMatchObject({ reachable: false, error: expect.stringContaining('no answer within 1 s') });
  });

  test('hosts not declared down are never ARP-probed', async () => {
    const { run } = fakeRunner();
    const probe = jest.fn(async () => false);
    await observeHosts(config, NORMAL, run, probe);
    expect(probe).not.toHaveBeenCalled();
  });
});

describe('the preflight an operator command starts before the engine is up', () => {
  const entries = configEntriesOf(BASE);

  test('the program takes it when it asks for the same config and pair', async () => {
    const observe = jest.fn(async () => NOBODY);
    const early = configFromEntries(entries, EMERGENCY);
    const preflight = startPreflight(early, EMERGENCY, observe);
    // The program parses the config the up set (--config with the statuses): equal, so no second observation.
    const seen = parseStackConfig({ ...BASE, primaryStatus: 'down', secondaryStatus: 'production_alone' });
    await preflight(seen, EMERGENCY);
    expect(observe).toHaveBeenCalledTimes(1);
  });

  test('any other config or pair is observed afresh', async () => {
    const observe = jest.fn(async () => NOBODY);
    const preflight = startPreflight(configFromEntries(entries, EMERGENCY), EMERGENCY, observe);
    await preflight(configFromEntries(entries, NORMAL), NORMAL);
    await preflight(configFromEntries({ ...entries, 'sounz:serviceIp': { value: '192.0.2.47', secret: false } }, EMERGENCY), EMERGENCY);
    expect(observe).toHaveBeenCalledTimes(3);
  });
});

describe('a config the program would refuse is refused by the operator command before the engine', () => {
  test('with the program\'s own words, observing nothing; a valid config gets its preflight started', async () => {
    const entries = configEntriesOf(BASE);
    const observe = jest.fn(async () => NOBODY);
    const refused = preflightOrRefusal(entries, { primary: 'production', secondary: 'production' }, observe);
    if (!('refusal' in refused)) throw new Error('not refused');
    expect(refused.refusal).toContain('both hosts would serve SOUNZ: two hosts would hold the service IP');
    expect(() => parseStackConfig({ ...BASE, secondaryStatus: 'production' })).toThrow(refused.refusal);
    expect(observe).not.toHaveBeenCalled();

    const started = preflightOrRefusal(entries, undefined, observe);
    if (!('preflight' in started)) throw new Error(`refused: ${started.refusal}`);
    expect(observe).toHaveBeenCalledTimes(1);
    await expect(started.preflight(configFromEntries(entries), NORMAL)).resolves.toBe(NOBODY);
    expect(observe).toHaveBeenCalledTimes(1);
  });
});
