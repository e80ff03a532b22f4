// A service of ours as a systemd unit, for hosts where systemd is PID 1: the provider passes the unit's
// text to its script, and providers/scripts/units.sh writes, enables, starts, observes or removes it
// there (a host without systemd keeps pidfiles, and cron where a service must come back by itself).
import { hostScript } from './project';

/** The functions the scripts of a service with a unit begin with. */
export const UNITS = hostScript('units.sh');

/**
 * The unit file: `execStart` runs in the foreground, systemd restarts it whenever it ends and starts it
 * at boot once enabled. Its words are validated config values (no space, quote, `$` or `%`, which
 * systemd would read), so they stand unquoted.
 */
export function renderUnit(description: string, execStart: string[]): string {
  return [
    `# Managed by Pulumi (sounz-standby): ${description}; edits are overwritten.`,
    '[Unit]',
    `Description=${description}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    `ExecStart=${execStart.join(' ')}`,
    'Restart=always',
    'RestartSec=1',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
