// Planning from what the hosts record (model/situation.ts): the preflight's refusals, the generation,
// the drift a plain up repairs, and what a re-run after a failure does.
import { HostFacts, Observation, Pair, Situation, UpPlan, cannotCarry, planUp, situationPair } from '../../model';
import { labelOf } from '../../providers/serviceAddress';
import { parseFacts } from '../../components/preflight';

const NORMAL: Pair = { primary: 'production', secondary: 'standby' };
const PRIMARY_DOWN: Pair = { primary: 'down', secondary: 'production_alone' };
const RECOVERY: Pair = { primary: 'production_as_standby', secondary: 'standby_as_production' };
const SERVICE = { ip: '198.51.100.100', device: 'eth0' };

function seen(facts: Partial<HostFacts> & { address?: string } = {}): Observation {
  const { address = '198.51.100.11/24', ...rest } = facts;
  return {
    reachable: true,
    facts: {
      status: undefined, record: { switch: 0, served: 0, data: 0 }, holdsServiceIp: false, databaseReadOnly: false,
      interfaceAddresses: [address], missingCommands: [], replicationRunning: false, databaseBytes: 1000, freeBytes: 1 << 30,
      ...rest,
    },
  };
}
const dead: Observation = { reachable: false, error: 'megadeth (root@198.51.100.12:22): SSH connection failed: no answer within 5 s' };

/** NORMAL as an up of this program leaves it, generation 1. */
const normal = (primary: Partial<HostFacts> = {}, secondary: Partial<HostFacts> = {}): Situation => ({
  observed: {
    primary: seen({ status: 'production', record: { switch: 1, served: 1, data: 1 }, holdsServiceIp: true, ...primary }),
    secondary: seen({ status: 'standby', record: { switch: 1, served: 0, data: 1 }, address: '198.51.100.12/24', ...secondary }),
  },
  lastApplied: { pair: NORMAL, generation: 1 },
});

function planned(situation: Situation, next: Pair): UpPlan {
  const plan = planUp(situation, next, SERVICE);
  if (!plan.ok) throw new Error(`refused: ${plan.reason}`);
  return plan;
}

test('finding 1: a planned switch to a host that does not answer is refused before anything changes', () => {
  const plan = planUp({ ...normal(), observed: { ...normal().observed, secondary: dead } }, RECOVERY, SERVICE);
  expect(plan).toMatchObject({ ok: false, reason: expect.stringContaining('preflight: the secondary must take part in this up, but it does not answer: megadeth') });
  expect(plan.ok || plan.suggestion).toContain('nothing has changed on either host');
});

test('finding 1: what a grab needs is checked first: the lock, the database, the disk', () => {
  expect(planUp(normal({ replicationRunning: true }), RECOVERY, SERVICE))
    .toMatchObject({ ok: false, reason: expect.stringContaining('a replication run holds the lock on the primary') });
  expect(planUp(normal({ databaseBytes: undefined }), RECOVERY, SERVICE))
    .toMatchObject({ ok: false, reason: expect.stringContaining('the primary has no database to dump') });
  expect(planUp(normal({ databaseBytes: 5000 }, { freeBytes: 10 }), RECOVERY, SERVICE))
    .toMatchObject({ ok: false, reason: expect.stringContaining('the secondary has 10 bytes free for the dump, the database on the primary takes 5000') });
  expect(planUp(normal({ databaseBytes: 5000 }, { postgresFreeBytes: 4999 }), RECOVERY, SERVICE))
    .toMatchObject({ ok: false, reason: expect.stringContaining('the secondary has 4999 bytes free on PostgreSQL\'s filesystem for the restore, the database on the primary takes 5000') });
  expect(planUp(normal({ databaseBytes: 5000 }, { postgresFreeBytes: 5000 }), RECOVERY, SERVICE)).toMatchObject({ ok: true });
  expect(planUp(normal({}, { missingCommands: ['arping'] }), RECOVERY, SERVICE))
    .toMatchObject({ ok: false, reason: 'preflight: the secondary lacks commands its part needs: arping' });
  // A best-effort grab is skipped instead, and says why.
  expect(planned(normal({ replicationRunning: true }), PRIMARY_DOWN))
    .toMatchObject({ dataGrab: undefined, grabSkipped: 'best-effort grab skipped: a replication run holds the lock on the primary' });
});

test('finding 2: a re-run after a failed EMERGENCY plans from the hosts, and never grabs the stale server over the live one', () => {
  // The EMERGENCY claimed the IP on the secondary (generation 2) and then failed a check: the stack still says NORMAL.
  const situation = normal({ holdsServiceIp: false }, { status: 'production_alone', record: { switch: 2, served: 2, data: 2 }, holdsServiceIp: true });
  expect(situationPair(situation)).toEqual(PRIMARY_DOWN);
  const plan = planned(situation, PRIMARY_DOWN);
  expect(plan).toMatchObject({ procedure: 'no change', dataGrab: undefined, generation: 3, untouched: [] });
});

test('a grab never copies older data over newer, even where statuses and records disagree', () => {
  const legacy: Situation = {
    observed: {
      primary: seen({ status: 'production_as_standby', record: { switch: 3, served: 0, data: 3 } }),
      secondary: seen({ status: 'standby_as_production', record: { switch: 1, served: 0, data: 1 }, holdsServiceIp: true, address: '198.51.100.12/24' }),
    },
    lastApplied: { pair: RECOVERY },
  };
  expect(planned(legacy, NORMAL)).toMatchObject({ dataGrab: undefined,
    grabSkipped: 'not grabbed: the primary holds newer data (a copy of generation 3) than the secondary (a copy of generation 1); copying would undo it' });
});

test('finding 4: the service IP found on the partner is drift, which the up repairs; a converged pair has none', () => {
  expect(planned(normal({}, { holdsServiceIp: true }), NORMAL)).toMatchObject({ drift: { primary: [], secondary: ['service IP held'] }, generation: 2 });
  expect(planned(normal(), NORMAL)).toMatchObject({ procedure: 'no change', drift: { primary: [], secondary: [] }, generation: 1 });
  expect(planned(normal({ databaseReadOnly: true }), NORMAL).drift.primary).toEqual(['database read-only']);
});

test('finding 5: a first deployment that contradicts the hosts\' own statuses is refused, with the command that adopts them', () => {
  const hosts = normal();
  const plan = planUp({ ...hosts, lastApplied: undefined }, RECOVERY, SERVICE);
  expect(plan).toMatchObject({ ok: false, reason: expect.stringContaining("first deployment: the hosts' own records say (production, standby), the primary serving") });
  expect(plan.ok || plan.suggestion).toContain('pulumi config set sounz:primaryStatus production && pulumi config set sounz:secondaryStatus standby');
  expect(planned({ ...hosts, lastApplied: undefined }, NORMAL)).toMatchObject({ procedure: 'NORMAL' });
});

test('finding 8: a service IP that no address of the interface shares a subnet with is refused', () => {
  expect(cannotCarry('10.0.0.1', ['198.51.100.12/24'], 'eth0')).toBe(
    'no address on eth0 shares a subnet with the service IP 10.0.0.1 (eth0 has 198.51.100.12/24): nobody would route to it there');
  expect(cannotCarry('198.51.100.100', ['198.51.100.12/24'], 'eth0')).toBeUndefined();
  expect(cannotCarry('198.51.100.100', ['198.51.100.100/24'], 'eth0')).toContain('(eth0 has no IPv4 address)');
  expect(planUp(normal(), NORMAL, { ip: '10.0.0.1', device: 'eth0' }))
    .toMatchObject({ ok: false, reason: expect.stringContaining('preflight: the primary cannot carry the service IP') });
});

test('finding 3: the label is read from what ip prints before the lifetimes, not as "forever"', () => {
  expect(labelOf('198.51.100.11/24 eth0\n198.51.100.100/24 eth0:1\n', '198.51.100.100')).toBe('eth0:1');
  expect(labelOf('198.51.100.11/24 eth0\n', '198.51.100.100')).toBeUndefined();
});

test('the preflight\'s lines parse into facts; a missing record reads as generation 0', () => {
  expect(parseFacts('status=standby\nswitch=4\nserved=\ndata=3\nheld=no\naddresses=198.51.100.12/24 \nmissing= arping\n' +
    'replication=idle\ndatabase=7753219\nreadonly=0\nfree=123\npgfree=456\n')).toEqual({
    status: 'standby', record: { switch: 4, served: 0, data: 3 }, holdsServiceIp: false, databaseReadOnly: false,
    interfaceAddresses: ['198.51.100.12/24'], missingCommands: ['arping'], replicationRunning: false, databaseBytes: 7753219, freeBytes: 123,
    postgresFreeBytes: 456,
  });
  expect(parseFacts('status=bogus\ndatabase=\n')).toMatchObject({ status: undefined, databaseBytes: undefined });
});

test('a planned switch may roll back to the old server; an EMERGENCY never to the host declared down', () => {
  expect(planned(normal(), RECOVERY)).toMatchObject({ rollbackTo: 'primary', generation: 2,
    recordsAfter: { primary: { switch: 2, served: 1, data: 1 }, secondary: { switch: 2, served: 2, data: 2 } } });
  expect(planned(normal(), PRIMARY_DOWN)).toMatchObject({ rollbackTo: undefined });
});
