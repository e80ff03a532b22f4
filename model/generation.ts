/**
 * Switch generations: the recorded state that decides which host holds the newest data.
 *
 * Every switch has a generation, a number that only grows. Each host records three of them, one
 * integer per file in /etc/sounz/generation/ (a missing file reads 0):
 * - `switch`: the newest switch the host took part in (written with its status);
 * - `served`: the generation in which the host last began to serve (written when it claims the service IP);
 * - `data`: the generation of the data it holds: its `served` while it serves, else that of the last
 *   complete copy it received (written by the replication command when the copy is swapped in).
 * A host that serves in generation G is the authority for G's data; a copy of G is older than that.
 */
import type { Host } from './statuses';

export const GENERATION_DIR = '/etc/sounz/generation';

export interface GenerationRecord {
  switch: number;
  served: number;
  data: number;
}

export const NO_RECORD: GenerationRecord = { switch: 0, served: 0, data: 0 };

/** (data generation, 1 if the host served that generation itself, 0 for a copy): newer data ranks higher. */
function rank(record: GenerationRecord): [number, number] {
  return [record.data, record.data > 0 && record.served === record.data ? 1 : 0];
}

/** > 0: `a` holds newer data than `b`; 0: the same; < 0: older. */
export function compareData(a: GenerationRecord, b: GenerationRecord): number {
  const [ra, rb] = [rank(a), rank(b)];
  return ra[0] - rb[0] || ra[1] - rb[1];
}

/** A copy may only move data that is at least as new as what the receiver holds. */
export function mayCopy(source: GenerationRecord, receiver: GenerationRecord): boolean {
  return compareData(source, receiver) >= 0;
}

export function describeRecord(record: GenerationRecord): string {
  if (record.data === 0) return 'no recorded data generation';
  return record.served === record.data
    ? `generation ${record.data}, served there`
    : `a copy of generation ${record.data}`;
}

/** The host that began to serve last: where the newest data is written. Undefined when neither ever recorded serving. */
export function newestServer(records: Record<Host, GenerationRecord>): Host | undefined {
  const { primary, secondary } = records;
  if (primary.served === secondary.served) return undefined;
  return primary.served > secondary.served ? 'primary' : 'secondary';
}
