// The preflight as the operator commands start it (before the engine is up) and the ARP probe of a
// host declared down: no engine, no hosts (the runner and the probe are injected).
import { observationText, observeHosts, parseFacts, preflightRefusal, startPreflight } from '../../components/preflight';
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

describe('what the preflight refuses before any plan', () => {
  const observation = 'status=production\ndeployed=yes\nswitch=3\nserved=3\ndata=3\nheld=yes\nmissing=\n';
  // The operator's clock: 1000 s when slayer's request goes out, 1000.1 s when its answer is back and megadeth's goes out,
  // 1000.2 s when megadeth's is back: megadeth's midpoint is 1000.15 s, give or take 0.05 s.
  const observeWith = async (reply: (host: string) => string) => {
    let now = 1_000_000;
    const { run } = fakeRunner((call) => { now += 100; return { stdout: reply(call.host) }; });
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
    try {
      return await observeHosts(config, NORMAL, run, async () => undefined);
    } finally {
      clock.mockRestore();
    }
  };
  const standby = 'status=standby\ndeployed=yes\nswitch=3\nserved=0\ndata=2\nheld=no\nmissing=\n';

  test.each([
    ['served=<missing>', '/etc/sounz/generation/served is missing'],
    ['served=<unreadable>', '/etc/sounz/generation/served cannot be read'],
    ['served=3x', '/etc/sounz/generation/served holds "3x", not a generation number'],
  ])('a deployed host with %s is refused, naming the host, the file and how to restore it', async (line, fault) => {
    const observed = await observeWith((host) => (host === 'slayer' ? observation.replace('served=3', line) : standby));
    const last = { pair: NORMAL, generation: 3, records: { primary: { switch: 3, served: 3, data: 3 } } };
    const refused = preflightRefusal(config, NORMAL, observed, last);
    expect(refused?.reason).toContain(`slayer has been deployed by this program (its records, or this stack's) but ${fault}`);
    expect(refused?.suggestion).toContain('restore it on slayer: echo 3 >/etc/sounz/generation/served');
    expect(refused?.suggestion).toContain('megadeth records switch 3, served 0, data 2');
    // Without the stack's outputs it says where to find the value.
    expect(preflightRefusal(config, NORMAL, observed, undefined)?.suggestion).toContain('pulumi stack history');
  });

  test('a first deployment (no status file, or a runbook host\'s status file without records) and a whole record pass', async () => {
    const fresh = 'status=\ndeployed=no\nswitch=<missing>\nserved=<missing>\ndata=<missing>\nheld=no\nmissing=\n';
    expect(preflightRefusal(config, NORMAL, await observeWith(() => fresh), undefined)).toBeUndefined();
    const runbookHost = 'status=production\ndeployed=yes\nswitch=<missing>\nserved=<missing>\ndata=<missing>\nheld=yes\nmissing=\n';
    expect(preflightRefusal(config, NORMAL, await observeWith(() => runbookHost), undefined)).toBeUndefined();
    // The same host after this stack recorded it: its records are gone, not yet written.
    expect(preflightRefusal(config, NORMAL, await observeWith(() => runbookHost),
      { pair: NORMAL, generation: 3, records: { primary: { switch: 3, served: 3, data: 3 } } })?.reason)
      .toContain('/etc/sounz/generation/switch is missing, /etc/sounz/generation/served is missing');
    expect(preflightRefusal(config, NORMAL, await observeWith((h) => (h === 'slayer' ? observation : standby)), undefined)).toBeUndefined();
  });

  test('a host declared down is not refused for its records (an EMERGENCY must go on)', async () => {
    const { run } = fakeRunner((call) => ({ stdout: call.host === 'slayer' ? observation.replace('served=3', 'served=<missing>') : standby }));
    const observed = await observeHosts(config, EMERGENCY, run, async () => undefined);
    expect(preflightRefusal(config, EMERGENCY, observed, undefined)).toBeUndefined();
  });

  test('a clock beyond sounz:maxClockSkew is refused with both clocks and NTP; within it, or within the round trip, passes', async () => {
    const at = (hostClock: string) => (host: string) => (host === 'megadeth' ? `clock=${hostClock}\n${standby}` : `clock=1000.1\n${observation}`);
    const skewed = preflightRefusal(config, NORMAL, await observeWith(at('1040.123456789')), undefined);
    expect(skewed?.reason).toContain('the clock of megadeth says 1970-01-01T00:17:20.123Z while this machine\'s says 1970-01-01T00:16:40.150Z');
    expect(skewed?.reason).toContain('40.0 s ahead, give or take 0.1 s');
    expect(skewed?.suggestion).toContain('NTP');
    expect(preflightRefusal(config, NORMAL, await observeWith(at('1030.18')), undefined)).toBeUndefined();
    expect(preflightRefusal({ ...config, maxClockSkew: 60 }, NORMAL, await observeWith(at('1040.1')), undefined)).toBeUndefined();
    expect(preflightRefusal({ ...config, maxClockSkew: 5 }, NORMAL, await observeWith(at('960')), undefined)?.reason).toContain('40.1 s behind');
  });

  test('a missing command is refused naming the host, the command and its package', async () => {
    const observed = await observeWith((host) => (host === 'megadeth' ? standby.replace('missing=', 'missing= pg_dump flock') : observation));
    expect(preflightRefusal(config, NORMAL, observed, undefined)).toEqual({
      reason: 'preflight: megadeth lacks commands its part needs: pg_dump, flock',
      suggestion: 'install them on megadeth (Debian: apt install postgresql-client util-linux) and run it again; nothing has changed',
    });
  });
  test('a cluster sounz:postgresql names that the host has not, or on another port, is refused naming the host and what is there', async () => {
    const missing = 'cluster=missing: no cluster 15/main (pg_lsclusters lists: 16/main on port 5433)\n';
    const none = preflightRefusal(config, NORMAL, await observeWith((host) => (host === 'megadeth' ? missing + standby : observation)), undefined);
    expect(none?.reason).toBe('preflight: megadeth has no PostgreSQL cluster 15/main on port 5432 (sounz:postgresql): no cluster 15/main (pg_lsclusters lists: 16/main on port 5433)');
    expect(none?.suggestion).toContain("pulumi config set --path 'sounz:postgresql.version' <version>");
    const found = 'cluster=15/main postgresql-common port 5432 /var/lib/postgresql/15/main\n';
    expect(preflightRefusal(config, NORMAL, await observeWith((host) => (host === 'megadeth' ? found + standby : observation)), undefined)).toBeUndefined();
    // A host declared down is not asked for its cluster: an EMERGENCY must go on.
    const { run } = fakeRunner((call) => ({ stdout: call.host === 'slayer' ? missing + observation : standby }));
    expect(preflightRefusal(config, EMERGENCY, await observeHosts(config, EMERGENCY, run, async () => undefined), undefined)).toBeUndefined();
  });
});

test('the holder of the replication lock is named in the grab\'s refusal (pid, how long, what): a killed up\'s leftover can be ended', async () => {
  const { planUp } = await import('../../model/situation');
  const facts = (stdout: string) => ({ reachable: true as const, facts: { ...parseFacts(stdout), interfaceAddresses: ['198.51.100.11/24'], databaseBytes: 1000, freeBytes: 1 << 30 } });
  const refused = planUp({
    observed: {
      primary: facts('status=production\nswitch=1\nserved=1\ndata=1\nheld=yes\nreplication=running\n' +
        'replication_holder=pid 4242, running 300 s: flock -o -E 75 /run/lock/sounz-replicate.lock sounz-replicate --switch dump\n'),
      secondary: facts('status=standby\nswitch=1\nserved=0\ndata=1\nheld=no\nreplication=idle\n'),
    },
    lastApplied: { pair: NORMAL, generation: 1 },
  }, { primary: 'production_as_standby', secondary: 'standby_as_production' }, { ip: '198.51.100.100', device: 'eth0' });
  expect(refused).toMatchObject({ ok: false,
    reason: expect.stringContaining('a replication run holds the lock on the primary (pid 4242, running 300 s: flock -o -E 75'),
    suggestion: expect.stringContaining('kill <its pid, above>') });
});

test('continuous mode: a planned switch to a hot standby that does not stream is refused; one that streams, or an EMERGENCY, is not', async () => {
  const continuous = { ...config, replication: { ...config.replication, mode: 'continuous' as const } };
  const RECOVERY = { primary: 'production_as_standby', secondary: 'standby_as_production' } as const;
  const server = 'status=production\ndeployed=yes\nswitch=3\nserved=3\ndata=3\nheld=yes\nrecovery=f\nreceiver=\nmissing=\n';
  const standby = (receiver: string) => `status=standby\ndeployed=yes\nswitch=3\nserved=0\ndata=3\nheld=no\nrecovery=t\nreceiver=${receiver}\nmissing=\n`;
  const observe = async (receiver: string, next: typeof RECOVERY | typeof EMERGENCY) => observeHosts(continuous, next,
    fakeRunner((call) => ({ stdout: call.host === 'slayer' ? server : standby(receiver) })).run, async () => undefined);
  const refused = preflightRefusal(continuous, RECOVERY, await observe('', RECOVERY), undefined);
  expect(refused?.reason).toBe('preflight: megadeth is a hot standby that does not stream from slayer (WAL receiver: none running): ' +
    'a planned switch to it would promote it without slayer\'s last writes');
  expect(preflightRefusal(continuous, RECOVERY, await observe('waiting from 198.51.100.11, ? bytes not replayed', RECOVERY), undefined)?.reason)
    .toContain('(WAL receiver: waiting from 198.51.100.11');
  expect(preflightRefusal(continuous, RECOVERY, await observe('streaming from 198.51.100.11, 0 bytes not replayed', RECOVERY), undefined)).toBeUndefined();
  expect(preflightRefusal(continuous, EMERGENCY, await observe('', EMERGENCY), undefined)).toBeUndefined();
  // Nightly mode has no stream to check.
  expect(preflightRefusal(config, RECOVERY, await observe('', RECOVERY), undefined)).toBeUndefined();
});

test('continuous mode: a planned switch to a standby whose slot the server lost is refused, saying it needs a rebuild', async () => {
  const continuous = { ...config, replication: { ...config.replication, mode: 'continuous' as const } };
  const RECOVERY = { primary: 'production_as_standby', secondary: 'standby_as_production' } as const;
  const server = (slots: string) => `status=production\ndeployed=yes\nswitch=3\nserved=3\ndata=3\nheld=yes\nrecovery=f\nreceiver=\nslots=${slots}\nmissing=\n`;
  const standby = 'status=standby\ndeployed=yes\nswitch=3\nserved=0\ndata=3\nheld=no\nrecovery=t\nreceiver=streaming from 198.51.100.11, 0 bytes not replayed\nslots=\nmissing=\n';
  const observe = async (slots: string) => observeHosts(continuous, RECOVERY,
    fakeRunner((call) => ({ stdout: call.host === 'slayer' ? server(slots) : standby })).run, async () => undefined);
  const seen = await observe('sounz_megadeth false lost ?');
  expect(seen.primary.reachable && seen.primary.facts).toMatchObject({ slots: [{ name: 'sounz_megadeth', active: false, walStatus: 'lost', retainedBytes: null }] });
  const refused = preflightRefusal(continuous, RECOVERY, seen, undefined);
  expect(refused?.reason).toBe('preflight: slayer lost the replication slot of its standby megadeth (slot sounz_megadeth inactive, wal_status lost): ' +
    'megadeth fell further behind than sounz:replication.maxSlotWalKeepSize and can no longer stream; a planned switch to it would ' +
    'promote it without slayer\'s writes since');
  expect(refused?.suggestion).toContain('rebuild megadeth from slayer');
  // Its slot kept (another host's lost slot says nothing of it): the switch goes ahead.
  expect(preflightRefusal(continuous, RECOVERY, await observe('sounz_megadeth true reserved 1024,sounz_other false lost ?'), undefined)).toBeUndefined();
});

describe('the preflight\'s line for each host, the first an operator watching a switch reads', () => {
  test('a hot standby says its stream and its last replayed commit: from when an EMERGENCY now would lose the dead server\'s writes', async () => {
    const standby = 'status=standby\nrecovery=t\nreceiver=streaming from 198.51.100.11, 0 bytes not replayed\nreplayed=2026-12-05T09:04:27Z\n';
    const { run } = fakeRunner((call) => ({ stdout: call.host === 'megadeth' ? standby : 'status=down\nrecovery=f\nreceiver=\nreplayed=\n' }));
    const observed = await observeHosts(config, EMERGENCY, run, async () => true);
    expect(observationText('megadeth', observed.secondary)).toMatch(/^megadeth answered: status standby, .*, a hot standby \(WAL receiver: streaming from 198\.51\.100\.11, 0 bytes not replayed; last replayed commit 2026-12-05T09:04:27Z\)$/);
    expect(observationText('slayer', observed.primary)).not.toContain('hot standby');
    const silent = fakeRunner(() => ({ stdout: 'status=standby\nrecovery=t\nreceiver=\nreplayed=\n' }));
    const alone = await observeHosts(config, EMERGENCY, silent.run, async () => true);
    expect(observationText('megadeth', alone.secondary)).toContain('a hot standby (WAL receiver: none running; last replayed commit none)');
  });
});
