// ServiceAddress: the service IP as an alias with the runbook's label (eth0:1), present on the host
// that serves and absent elsewhere. Before it claims the address the host asks the LAN whether
// anyone still answers for it (duplicate-address detection); after, it records that it began to serve
// in this switch's generation and announces itself with gratuitous ARP. A host that serves takes writes.
// A reboot forgets the address: the claim also leaves a boot-time script (sounz-reclaim, an @reboot cron
// line) and the address's record, so that a serving host that reboots takes the address back, after
// duplicate-address detection; the release removes them, so a standby never does.
// If the new server cannot claim the address in a planned switch, the old one takes it back: a failed
// switch leaves the old server serving, or says loudly that nobody does.
import * as pulumi from '@pulumi/pulumi';
import { GENERATION_DIR } from '../model/generation';
import { cannotCarry } from '../model/network';
import { checkInputs, ConnectionInputs, connectionProps, connectionShape, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { REPLICATE_COMMAND } from '../model/hostPaths';
import { hostScript } from './project';
import { ARPING_SENDER_MAC, Runner, runOverSsh, script, shellQuote, SshTarget } from './ssh';

export interface ServiceAddressInputs extends ConnectionInputs {
  ip: string;
  prefixLength: number;
  interface: string;
  label: string;
  present: boolean;
  /** The switch generation this host serves in, when it claims the address. */
  generation: number;
  /** How the host differed from its role when this up began (the preflight's view); none once converged. */
  drift: string[];
  /** The host that held the address before this switch, to take it back if the claim fails; null: none may. */
  rollback: Omit<ConnectionInputs, 'privateKey'> | null;
  /** Why the old server may not take the address back, when it served until this switch (continuous mode). */
  noRollback?: string;
}

/** Exit code of CLAIM when another machine answers for the address. */
export const ADDRESS_IN_USE = 3;

export const RECLAIM_COMMAND = '/usr/share/sounz/scripts/dr/sounz-reclaim';
export const RECLAIM_CRON_FILE = '/etc/cron.d/sounz-reclaim';
/** What sounz-reclaim reads at boot: "IP PREFIX DEV LABEL", on the host that holds the service IP only. */
export const SERVICE_ADDRESS_RECORD = '/etc/sounz/service-address';
const RECLAIM_SCRIPT = hostScript('reclaim.sh');
const RECLAIM_CRON = [
  '# Managed by Pulumi (sounz-standby): at boot, a host whose records say it serves takes the service IP back (sounz-reclaim); edits are overwritten.',
  'SHELL=/bin/sh',
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  `@reboot root ${RECLAIM_COMMAND} ${SERVICE_ADDRESS_RECORD} >/dev/null 2>&1`,
  '',
].join('\n');

// The claim and the release (providers/scripts/claim.sh, release.sh). The claim's exit code and sed
// expression come before its text, from the constants the provider and the other scripts share.
const CLAIM = `address_in_use=${ADDRESS_IN_USE} sender_mac=${shellQuote(ARPING_SENDER_MAC)}\n` + hostScript('claim.sh');
const RELEASE = hostScript('release.sh');

// The interface's addresses, one per line: `<address/len> <label>`. The label ends what `ip -o` prints
// before the backslash that starts the lifetimes.
const OBSERVE = `ip -4 -o addr show dev "$1" | sed 's/\\\\.*//' | awk '{ print $4, $NF }'`;

/** The label `ip` of the interface carries, or undefined; `lines` as OBSERVE prints them. */
export function labelOf(lines: string, ip: string): string | undefined {
  return lines.split('\n').map((line) => line.trim().split(/\s+/))
    .find(([cidr]) => cidr?.split('/')[0] === ip)?.[1];
}

export function serviceAddressProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const claim = async (target: SshTarget, inputs: ServiceAddressInputs) => {
    const { ip, prefixLength, interface: dev, label, generation } = inputs;
    const lines = (await run(target, script(OBSERVE, dev))).stdout;
    const unroutable = labelOf(lines, ip) === undefined &&
      cannotCarry(ip, lines.split('\n').map((line) => line.split(' ')[0]).filter(Boolean), dev);
    if (unroutable) throw new Error(`${target.host}: refusing to add the service IP: ${unroutable}`);
    const result = await run(target, script(CLAIM, ip, String(prefixLength), dev, label, String(generation),
      GENERATION_DIR, REPLICATE_COMMAND, RECLAIM_COMMAND, RECLAIM_CRON_FILE, RECLAIM_CRON, SERVICE_ADDRESS_RECORD),
    { allowFailure: true, stdin: RECLAIM_SCRIPT });
    if (result.code === ADDRESS_IN_USE) throw Object.assign(new Error(`${target.host}: refusing to add the service IP ${ip}: ${result.stderr.trim()}`), { addressInUse: true });
    if (result.code !== 0) throw new Error(`${target.host}: adding the service IP ${ip} failed: ${result.stderr.trim()}`);
    return result.stdout.trim();
  };
  const release = async (inputs: ServiceAddressInputs) => {
    const { ip, prefixLength, interface: dev } = inputs;
    return (await run(targetOf(inputs), script(RELEASE, ip, String(prefixLength), dev,
      RECLAIM_COMMAND, RECLAIM_CRON_FILE, SERVICE_ADDRESS_RECORD))).stdout.trim();
  };
  const converge = async (inputs: ServiceAddressInputs) => {
    if (!inputs.present) return release(inputs);
    try {
      return await claim(targetOf(inputs), inputs);
    } catch (error) {
      const failure = (error as Error).message;
      if (!inputs.rollback && inputs.noRollback) throw new Error(`NOBODY SERVES ${inputs.ip}: ${failure}; ${inputs.noRollback}`);
      // Nobody took the address back (an EMERGENCY, a repair): unless another machine answers for it, nobody serves.
      if (!inputs.rollback && (error as { addressInUse?: boolean }).addressInUse) throw error;
      if (!inputs.rollback) {
        throw new Error(`NOBODY SERVES ${inputs.ip}: ${failure}. Next: fix ${inputs.host} (the error above), then run the same switch ` +
          'again (its claim runs again); or, if the other host is sound, switch to it.');
      }
      const old = inputs.rollback.host;
      try {
        await claim(targetOf({ ...inputs.rollback, privateKey: inputs.privateKey }), inputs);
      } catch (rollbackError) {
        throw new Error(`NOBODY SERVES ${inputs.ip}: ${failure}; and ${old}, which served before, could not take it back: ` +
          `${(rollbackError as Error).message}. Bring either host back, then pulumi up.`);
      }
      throw new Error(`${failure}. ${old}, which served before, took the service IP back and takes writes again: ` +
        `nothing was lost. Fix ${inputs.host}, then run the switch again.`);
    }
  };
  return {
    async check(_olds: ServiceAddressInputs, news: ServiceAddressInputs) {
      return checkInputs((z, g) => {
        const { privateKey: _, ...hostShape } = connectionShape(g);
        return {
          ip: g.ipv4Address,
          prefixLength: g.prefixLength,
          interface: g.interfaceName,
          label: g.interfaceLabel,
          present: z.boolean(),
          generation: z.number().int().nonnegative(),
          drift: z.array(z.string()),
          rollback: z.object(hostShape).strict().nullable(),
          noRollback: z.string().optional(),
        };
      }, news);
    },
    async diff(_id: string, olds: ServiceAddressInputs, news: ServiceAddressInputs) {
      // Only what the host would show matters: another generation or rollback host alone is no work.
      const { generation: _g, rollback: _r, ...shown } = news;
      return diffInputs({ ...olds, drift: olds.drift ?? [] }, shown as ServiceAddressInputs);
    },
    async create(inputs: ServiceAddressInputs) {
      await converge(inputs);
      return { id: `${inputs.host}:${inputs.interface}:${inputs.ip}`, outs: { ...inputs, drift: [] } };
    },
    async read(id: string, props: ServiceAddressInputs) {
      const label = labelOf((await run(targetOf(props), script(OBSERVE, props.interface))).stdout, props.ip);
      return { id, props: { ...props, present: label !== undefined, label: label ?? props.label } };
    },
    async update(_id: string, olds: ServiceAddressInputs, news: ServiceAddressInputs) {
      // Another address, prefix or label: take the old one down before bringing the new one up.
      const moved = (['ip', 'prefixLength', 'interface', 'label'] as const).some((key) => olds[key] !== news[key]);
      if (moved && olds.present) {
        const { ip, prefixLength, interface: dev, label } = olds;
        await converge({ ...news, ip, prefixLength, interface: dev, label, present: false });
      }
      await converge(news);
      return { outs: { ...news, drift: [] } };
    },
    async delete(_id: string, props: ServiceAddressInputs) {
      // A resource that holds the address gives it back; one that kept it absent leaves things be.
      if (props.present) await release(props);
    },
  };
}

export interface ServiceAddressArgs extends HostArgs {
  ip: pulumi.Input<string>;
  prefixLength: pulumi.Input<number>;
  interface: pulumi.Input<string>;
  label: pulumi.Input<string>;
  /** Whether this host holds the service IP. */
  present: pulumi.Input<boolean>;
  generation: pulumi.Input<number>;
  drift: pulumi.Input<string[]>;
  rollback: pulumi.Input<Omit<ConnectionInputs, 'privateKey'> | null>;
  noRollback?: pulumi.Input<string>;
}

export class ServiceAddress extends HostResource {
  declare readonly present: pulumi.Output<boolean>;

  constructor(name: string, args: ServiceAddressArgs, opts?: pulumi.CustomResourceOptions) {
    const { ip, prefixLength, label, present, generation, drift, rollback, noRollback } = args;
    super('serviceAddress', serviceAddressProvider, name, {
      ...connectionProps(args), ip, prefixLength, interface: args.interface, label, present, generation, drift, rollback, noRollback,
    }, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS });
  }
}
