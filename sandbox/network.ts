/**
 * The sandbox's network: the bridge with its address, a node per host and for the vantage point (a netns,
 * a veth pair with a fixed MAC, the base address), IPv6 off everywhere. Each link and netns is recorded
 * in the ledger before it is made.
 */
import * as fs from 'fs';
import { run } from './exec';
import { BRIDGE, BRIDGE_ADDRESS, BRIDGE_PREFIX, State } from './layout';
import { record, writeState } from './ledger';

export function linkExists(name: string, netns?: string): boolean {
  const args = netns ? ['-n', netns, 'link', 'show', name] : ['link', 'show', name];
  return run('ip', args, { allowFail: true }).code === 0;
}
export function netnsExists(name: string): boolean {
  return fs.existsSync(`/run/netns/${name}`);
}
export function isMountpoint(p: string): boolean {
  return run('mountpoint', ['-q', p], { allowFail: true }).code === 0;
}

function setSysctl(file: string, value: string, netns?: string): void {
  if (netns) run('ip', ['netns', 'exec', netns, 'sh', '-c', `echo ${value} > ${file}`]);
  else fs.writeFileSync(file, value);
}

export function ensureBridge(state: State): void {
  if (!linkExists(BRIDGE)) {
    record(state.links, BRIDGE);
    writeState(state);
    run('ip', ['link', 'add', BRIDGE, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  }
  setSysctl(`/proc/sys/net/ipv6/conf/${BRIDGE}/disable_ipv6`, '1');
  const addrs = run('ip', ['-4', '-o', 'addr', 'show', 'dev', BRIDGE]).stdout;
  if (!addrs.includes(` ${BRIDGE_ADDRESS}/${BRIDGE_PREFIX} `)) run('ip', ['addr', 'add', `${BRIDGE_ADDRESS}/${BRIDGE_PREFIX}`, 'dev', BRIDGE]);
  run('ip', ['link', 'set', BRIDGE, 'up']);
}

/** netns + veth (bridge side `veth`, `eth0` inside with a fixed MAC) + base address. */
export function ensureNode(state: State, netns: string, veth: string, mac: string, address: string, attach: boolean): void {
  if (!netnsExists(netns)) {
    record(state.netns, netns);
    writeState(state);
    if (!fs.existsSync('/run/netns') && state.runNetnsMountedBefore === undefined) {
      state.runNetnsMountedBefore = false;
    } else if (state.runNetnsMountedBefore === undefined) {
      state.runNetnsMountedBefore = isMountpoint('/run/netns');
    }
    writeState(state);
    run('ip', ['netns', 'add', netns]);
  }
  // no IPv6 at all inside (no link-local, no router/neighbour solicitations leave the namespace)
  setSysctl('/proc/sys/net/ipv6/conf/default/disable_ipv6', '1', netns);
  setSysctl('/proc/sys/net/ipv6/conf/all/disable_ipv6', '1', netns);
  run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  const inside = linkExists('eth0', netns);
  const outside = linkExists(veth);
  if (!inside || !outside) {
    if (outside) run('ip', ['link', 'del', veth], { allowFail: true });
    if (inside) run('ip', ['-n', netns, 'link', 'del', 'eth0'], { allowFail: true });
    record(state.links, veth);
    writeState(state);
    run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'address', mac, 'netns', netns]);
    setSysctl(`/proc/sys/net/ipv6/conf/${veth}/disable_ipv6`, '1');
  }
  if (attach) run('ip', ['link', 'set', veth, 'master', BRIDGE, 'up']);
  run('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
  ensureAddress(netns, address);
}
export function ensureAddress(netns: string, address: string): void {
  const addrs = run('ip', ['-n', netns, '-4', '-o', 'addr', 'show', 'dev', 'eth0']).stdout;
  if (!addrs.includes(` ${address}/24 `)) run('ip', ['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
}
