// keepalived doing the same takeover of the same service IP between the same two hosts: the
// yardstick of the program's EMERGENCY, and its partition beside the guards'.
import * as sandbox from '../../sandbox';
import { holds, RUNS, series, sleep, Watch } from '../measure';
import { partitionRuns } from './partition';

function keepalivedConfig(self: sandbox.HostInfo, peer: sandbox.HostInfo, ip: string, master: boolean): string {
  // Unicast VRRP between the two base addresses: no packet leaves the sandbox's subnet.
  return `global_defs {
  router_id ${self.name}
}
vrrp_instance sounz {
  state ${master ? 'MASTER' : 'BACKUP'}
  interface eth0
  virtual_router_id 51
  priority ${master ? 150 : 100}
  advert_int 1
  unicast_src_ip ${self.address}
  unicast_peer {
    ${peer.address}
  }
  virtual_ipaddress {
    ${ip}/24 dev eth0 label eth0:1
  }
}
`;
}

/** keepalived settled: slayer the master holding the address, megadeth the backup without it. */
async function settled(info: sandbox.SandboxInfo): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await holds('slayer', info.serviceIp) && !(await holds('megadeth', info.serviceIp))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('keepalived did not settle with slayer as the master');
}

// On a Debian host, Debian's own unit with its own config file (so it starts again at boot, as on a real
// server); on a namespace host, the daemon started by hand with a pidfile.
const KEEPALIVED = sandbox.HOST_KIND === 'debian'
  ? { config: '/etc/keepalived/keepalived.conf', start: 'systemctl restart keepalived', stop: 'systemctl stop keepalived' }
  : {
    config: '/etc/sounz/keepalived.conf',
    start: 'keepalived -f /etc/sounz/keepalived.conf -p /run/keepalived.pid -r /run/keepalived-vrrp.pid </dev/null >/dev/null 2>&1',
    stop: 'kill "$(cat /run/keepalived.pid)" 2>/dev/null',
  };

async function startKeepalived(info: sandbox.SandboxInfo, host: 'slayer' | 'megadeth'): Promise<void> {
  const peer = host === 'slayer' ? 'megadeth' : 'slayer';
  await sandbox.execOn(host, ['sh', '-c', `cat >${KEEPALIVED.config} && ${KEEPALIVED.start}`],
    { input: keepalivedConfig(info.hosts[host], info.hosts[peer], info.serviceIp, host === 'slayer') });
}

export async function benchKeepalived(info: sandbox.SandboxInfo, watch: Watch, withPartition: boolean) {
  const takeover = [];
  const boot = [];
  for (const host of sandbox.hostnames) await startKeepalived(info, host);
  try {
    for (let i = 0; i < RUNS; i++) {
      await settled(info);
      await watch.firstAnswer('slayer', Date.now());
      const killed = Date.now();
      await sandbox.kill('slayer');
      takeover.push(await watch.firstAnswer('megadeth', killed));
      const powered = Date.now();
      await sandbox.revive('slayer');
      boot.push(Date.now() - powered);
      await startKeepalived(info, 'slayer');
    }
    await settled(info);
    // Cut off, slayer stays master; megadeth takes over when slayer's adverts stop (3 x advert_int
    // and a skew); healed, megadeth hears the higher priority again and drops back to backup.
    const partition = withPartition ? await partitionRuns(info,
      async () => {
        const cut = Date.now();
        while (!(await holds('megadeth', info.serviceIp))) {
          if (Date.now() - cut > 30_000) throw new Error('keepalived on megadeth did not take over from the cut-off slayer');
          await sleep(100);
        }
      },
      () => settled(info)) : undefined;
    return { takeover: series(takeover), boot: series(boot), partition };
  } finally {
    for (const host of sandbox.hostnames) {
      await sandbox.execOn(host, ['sh', '-c', `${KEEPALIVED.stop}; rm -f ${KEEPALIVED.config}`])
        .catch(() => undefined);
    }
  }
}
