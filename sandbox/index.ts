/**
 * The sounz sandbox: two real hosts (slayer, megadeth) and a vantage point, each a Linux network
 * namespace on a private bridge (sounzbr0, 198.51.100.0/24; sandbox 1: sounzbr1), reachable from here
 * only over SSH. Every host has its own mount, UTS and PID namespaces (held by `sounz-init-<name>`, or
 * a Debian container's systemd), its own sshd, PostgreSQL 15 cluster, cron, and stand-ins for the
 * website / Apollo / mongrels. Everything created is recorded in state.json and removed from there by
 * down(). Root only. See sandbox/cli.ts for the command line.
 *
 * This file is the sandbox's public face, and only that: the tests, the bench and ops import these
 * names from here. The work is done by layout.ts (names and addresses), exec.ts (commands),
 * processes.ts (/proc), ledger.ts (state.json and the lock), network.ts, hosts.ts (one host's life),
 * probes.ts (looking), faults.ts and provision.ts (up/down/status); each imports only ones listed
 * before it.
 */
export {
  BRIDGE, BRIDGE_ADDRESS, HOST_KIND, HOSTS, hostnames, PACKAGES, SERVICE_IP, SERVICE_LABEL, SLOT, STATE_DIR, STATE_FILE, SUBNET, VANTAGE,
} from './layout';
export type { HostInfo, HostName, HostState, HostStatus, SandboxInfo, SandboxStatus, State } from './layout';
export type { ExecResult } from './exec';
export { arpFromVantage, execOn, hostPids, httpFromVantage, info, knownHosts, recordedState } from './probes';
export { heal, kill, partition, reboot, revive, stopService } from './faults';
export { down, ensurePackages, status, up } from './provision';
