// The two machines switched as one: the host that lets the service IP go does so before the host
// that serves claims it, so the address is never on two hosts; a host the plan leaves untouched
// (declared down, unreachable) gets no resource and so no connection at all.
import * as pulumi from '@pulumi/pulumi';
import { StackConfig } from '../model/config';
import { Pair } from '../model/pairs';
import { Host, otherHost } from '../model/statuses';
import { SwitchPlan } from '../model/transitions';
import { SounzHost } from './host';

export interface SounzPairArgs {
  config: StackConfig;
  /** The statuses the config declares. */
  next: Pair;
  plan: SwitchPlan;
}

export class SounzPair extends pulumi.ComponentResource {
  readonly hosts: Partial<Record<Host, SounzHost>> = {};

  constructor(name: string, args: SounzPairArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sounz:index:Pair', name, {}, opts);
    const { config, next, plan } = args;
    const privateKey = pulumi.secret(config.sshPrivateKey);
    const server = plan.to;
    const add = (host: Host, claimAfter: pulumi.Resource[]) => {
      if (plan.untouched.includes(host)) return undefined;
      const machine = config[host];
      const peer = config[otherHost(host)];
      return (this.hosts[host] = new SounzHost(machine.name, {
        machine, peer, privateKey, config, status: next[host], claimAfter,
      }, { parent: this }));
    };
    const released = add(otherHost(server), []);
    add(server, released ? [released.serviceAddress] : []);
    this.registerOutputs({});
  }
}

