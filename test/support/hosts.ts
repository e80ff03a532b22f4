// What tests ask the sandbox hosts directly, as an operator would with a shell on them.
import * as sandbox from '../../sandbox';

/** `text` as a regular expression matching itself (an address, a MAC). */
export const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export const sh = async (host: sandbox.HostName, text: string) => (await sandbox.execOn(host, ['sh', '-c', text])).stdout.trim();

export const sql = (host: sandbox.HostName, query: string) => sh(host, `runuser -u postgres -- psql -qtAX -d sounz -c "${query}"`);

/** The running hosts whose interfaces carry `ip` (`ip addr` on each). */
export async function holders(ip: string): Promise<sandbox.HostName[]> {
  const running = sandbox.recordedState()?.hosts ?? {};
  const held = await Promise.all(sandbox.hostnames.map(async (h) => {
    if (!running[h]?.alive) return [];
    return (await sandbox.execOn(h, ['ip', '-4', '-o', 'addr', 'show'])).stdout.includes(`inet ${ip}/`) ? [h] : [];
  }));
  return held.flat();
}
