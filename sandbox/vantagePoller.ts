// Watches the service IP from the sandbox's vantage point for as long as a test runs: each sample is
// one ARP request, and the set of MAC addresses that answered it. Two MACs in one sample would be
// the service IP claimed by two hosts at once.
import { ChildProcess, spawn } from 'child_process';
import { VANTAGE } from '.';
import { ARPING_SENDER_MAC } from '../providers/ssh';

// -c 2 -w 1: one request, then wait a second for up to two replies, so a second holder is seen.
const LOOP = `while :; do
  macs=$(arping -c 2 -w 1 -I eth0 "$1" 2>/dev/null | sed -n '${ARPING_SENDER_MAC}' | sort -u | tr '\\n' ' ')
  echo "sample $(date +%s.%N) $macs"
done`;

/** One ARP request from the vantage point: when its wait ended (epoch seconds) and the MACs that answered. */
export interface TimedSample { at: number; macs: string[] }

export class VantagePoller {
  private readonly child: ChildProcess;
  private output = '';

  constructor(ip: string) {
    // Its own process group, so that stop() ends exactly the processes it started.
    this.child = spawn('ip', ['netns', 'exec', VANTAGE.netns, 'sh', '-c', LOOP, 'sh', ip], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    this.child.stdout!.on('data', (chunk: Buffer) => { this.output += chunk.toString(); });
  }

  /** How many samples it has taken so far. */
  get taken(): number {
    return this.output.split('\n').filter((line) => line.startsWith('sample ')).length;
  }

  /** Ends the poller and returns each sample's MAC addresses. */
  async stop(): Promise<string[][]> {
    return (await this.stopTimed()).map((sample) => sample.macs);
  }

  /** Ends the poller and returns each sample with the time its wait ended. */
  async stopTimed(): Promise<TimedSample[]> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    process.kill(-this.child.pid!, 'SIGTERM');
    await exited;
    return this.output.split('\n').filter((line) => line.startsWith('sample '))
      .map((line) => line.slice('sample '.length).trim().split(' ').filter(Boolean))
      .map(([at, ...macs]) => ({ at: Number(at), macs }));
  }
}

/** Seconds during which two or more MACs answered: each such sample counts from the end of the one before it. */
export function secondsWithTwoHolders(samples: TimedSample[]): number {
  let seconds = 0;
  for (let i = 1; i < samples.length; i++) if (samples[i].macs.length > 1) seconds += samples[i].at - samples[i - 1].at;
  return seconds;
}
