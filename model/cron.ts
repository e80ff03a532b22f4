/**
 * When a five-field schedule fires, as the hosts' cron (Debian's Vixie cron) reads it, computed by
 * croner. Only functions here, with croner required inside them: the providers' `check` calls them
 * through grammar.ts, and providers are serialized into the state as code.
 */
import type { Cron as CronClass } from 'croner';

/** The weekday and leap-year pattern of the calendar repeats every 28 years (within a century). */
const CALENDAR_CYCLE_YEARS = 28;

function cron(schedule: string, timezone?: string): CronClass {
  const { Cron } = require('croner') as typeof import('croner');
  const [, , dayOfMonth, , dayOfWeek] = schedule.split(' ');
  // Vixie cron (entry.c, cron.c): when day of month or day of week starts with "*", a day must match
  // both; when both are restricted, either one. croner's default is always "either".
  const domAndDow = dayOfMonth.startsWith('*') || dayOfWeek.startsWith('*');
  return new Cron(schedule, { mode: '5-part', domAndDow, ...(timezone ? { timezone } : {}) });
}

/** The first run after `from`, in the time zone of this process; undefined if it never fires. */
export function nextRun(schedule: string, from: Date = new Date()): Date | undefined {
  return cron(schedule).nextRun(from) ?? undefined;
}

/** The last run at or before `before`, in the time zone of this process; undefined if none in the schedule's past. */
export function previousRun(schedule: string, before: Date): Date | undefined {
  return cron(schedule).previousRuns(1, before)[0];
}

/**
 * A year in which the schedule does not fire, or undefined if it fires in every year. Judged over the
 * calendar's whole 28-year cycle from this year on, so the answer does not depend on the day it is
 * asked: "31 2" never fires, "29 2" skips three years in four. `nextAfter` is its next run, if any.
 */
export function yearWithoutRun(schedule: string, now: Date = new Date()): { year: number; nextAfter?: Date } | undefined {
  const job = cron(schedule, 'UTC');
  const first = now.getUTCFullYear();
  for (let year = first; year < first + CALENDAR_CYCLE_YEARS; year++) {
    const next = job.nextRun(new Date(Date.UTC(year, 0, 1) - 1));
    if (!next || next.getUTCFullYear() > year) return { year, nextAfter: next ?? undefined };
  }
  return undefined;
}

/** `2026-11-26 02:30 (UTC+13:00)`: a local time with its offset, so nobody has to guess the zone. */
export function localTimeText(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const zone = `UTC${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())} (${zone})`;
}
