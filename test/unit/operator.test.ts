// Who ran an update, and the audit trail built from `pulumi stack history --json` (no engine here:
// test/integration/operator.test.ts runs the same through the real CLI on the sandbox).
import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { auditMessage, keyFingerprint, parseAuditMessage } from '../../components/operator';
import { historyRows, switches } from '../../ops/history';
import type { HistoryEntry } from '../../ops/engine';

test.each(['ed25519', 'rsa'])('the fingerprint of a %s key is what ssh-keygen -lf prints', (type) => {
  const dir = mkdtempSync(join(tmpdir(), 'sounz-key-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(dir, 'key')]);
    const expected = execFileSync('ssh-keygen', ['-lf', join(dir, 'key')], { encoding: 'utf8' }).split(' ')[1];
    expect(keyFingerprint(readFileSync(join(dir, 'key'), 'utf8'))).toBe(expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a message written by an operator command reads back whole; a plain message is all reason', () => {
  const operator = { user: 'root@ops (sudo by alice)', key: 'SHA256:abc+/d' };
  const message = auditMessage('EMERGENCY', 'slayer croaked: [disk]', { operator, lastCopy: '2026-12-01T02:30:00Z slayer' });
  expect(parseAuditMessage(message)).toEqual({ procedure: 'EMERGENCY', reason: 'slayer croaked: [disk]', operator,
    lastCopy: '2026-12-01T02:30:00Z slayer' });
  expect(parseAuditMessage('back to NORMAL')).toEqual({ reason: 'back to NORMAL' });
});

const entry = (hour: number, primary: string, secondary: string, message: string, result = 'succeeded', kind = 'update'): HistoryEntry => ({
  version: 0, kind, result, message, startTime: `2026-12-01T1${hour}:00:00Z`, endTime: `2026-12-01T1${hour}:00:12Z`,
  config: { 'sounz:primaryStatus': { value: primary, secret: false }, 'sounz:secondaryStatus': { value: secondary, secret: false } },
});

test('history rows: a --yes EMERGENCY (no last copy in its message) takes the copy from the outputs, for the newest up only', () => {
  const operator = { user: 'alice@ops', key: 'SHA256:k' };
  const rows = historyRows([
    entry(4, 'down', 'production_alone', auditMessage('EMERGENCY', 'slayer croaked', { operator })),
    entry(3, 'production', 'standby', 'back'),
    entry(2, 'down', 'production_alone', auditMessage('EMERGENCY', 'before', { operator })),
    entry(1, 'production', 'standby', 'first'),
  ], { lastReplication: '2026-12-01T12:00:00Z 198.51.100.11' });
  expect(rows.map((r) => r.risked)).toEqual([
    'up to 2 h 0 min of writes (last copy 2026-12-01T12:00:00Z 198.51.100.11 (stack outputs)), unless the grab took them',
    'none: the final grab is mandatory', "the old server's writes since the last copy (not recorded), unless the grab took them", '']);
});

test('history rows: the pair before is the last applied one, a failed switch does not move it, EMERGENCY risks writes since the copy', () => {
  const operator = { user: 'alice@ops', key: 'SHA256:k' };
  const rows = historyRows([
    entry(4, 'down', 'production_alone', auditMessage('EMERGENCY', 'slayer croaked', { operator, lastCopy: '2026-12-01T11:30:00Z slayer' })),
    entry(3, 'production_as_standby', 'standby_as_production', 'planned', 'failed'),
    entry(2, 'production', 'standby', 'REPLICATE-NOW: slayer -> megadeth landed in 3.0 s', 'succeeded', 'refresh'),
    entry(1, 'production', 'standby', 'first'),
  ], { operator: { user: 'bob@ops', key: 'SHA256:b' } });
  expect(rows.map((r) => [r.version, r.procedure, r.who, r.before?.secondary, r.after?.secondary, r.risked])).toEqual([
    [4, 'EMERGENCY', 'alice@ops key SHA256:k', 'standby', 'production_alone', 'up to 2 h 30 min of writes (last copy 2026-12-01T11:30:00Z slayer), unless the grab took them'],
    [3, 'RECOVERY', 'not recorded (plain pulumi update)', 'standby', 'standby_as_production', 'none: the final grab is mandatory'],
    [2, 'REPLICATE-NOW', 'not recorded (plain pulumi refresh)', 'standby', 'standby', ''],
    [1, 'NORMAL', 'not recorded (plain pulumi update)', undefined, 'standby', ''],
  ]);
  expect(rows[0].seconds).toBe(12);
  expect(switches(rows).map((r) => r.version)).toEqual([4, 3]);
});
