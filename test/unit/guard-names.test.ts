// Issue 26 item 3 for the guard: its peer may be a host name. The config's grammar takes it, the cron
// file carries it as written, and the guard resolves it on the host when it needs an address (its MAC),
// here run for real with this machine's resolver (/etc/hosts).
import { execFileSync } from 'child_process';
import { connection, fakeRunner } from '../support/fakeRunner';
import { GUARD_COMMAND, GUARD_SCRIPT, RESOLVE_PEER, renderGuardCron, serviceGuardProvider } from '../../providers/serviceGuard';

const guard = { ...connection, running: true, ip: '198.51.100.100', prefixLength: 24, interface: 'eth0', peer: 'megadeth.sounz.example', peerPort: 18993 };
const resolve = (name: string) => execFileSync('sh', ['-c', `${RESOLVE_PEER}\nresolve "$1"`, 'sh', name], { encoding: 'utf8' }).trim();

test('a host name is a peer: check takes it, the cron file starts the guard with it', async () => {
  const provider = serviceGuardProvider(fakeRunner().run);
  const checked = await provider.check!({}, guard);
  expect(checked.failures ?? []).toEqual([]);
  expect(checked.inputs).toMatchObject({ peer: 'megadeth.sounz.example' });
  expect(renderGuardCron(guard)).toContain(`@reboot root ${GUARD_COMMAND} start 198.51.100.100 24 eth0 megadeth.sounz.example 18993 >/dev/null 2>&1\n`);
  const bad = await provider.check!({}, { ...guard, peer: 'megadeth;reboot' });
  expect(bad.failures!.map((f) => f.property)).toEqual(['peer']);
});

test('the guard resolves its peer on the host: a name to its address, an address to itself, an unknown name to nothing', () => {
  expect(GUARD_SCRIPT).toContain(RESOLVE_PEER);
  expect(GUARD_SCRIPT).toContain('peerip=$(resolve "$peer")');
  expect(resolve('localhost')).toBe('127.0.0.1');
  expect(resolve('198.51.100.12')).toBe('198.51.100.12');
  expect(resolve('no-such-host.invalid')).toBe('');
});
