// ServiceAddress: the service IP as an alias with the runbook's label (eth0:1), present on the host
// that serves and absent elsewhere. Before it claims the address the host asks the LAN whether
// anyone still answers for it (duplicate-address detection); after, it announces itself with
// gratuitous ARP so that clients and the router move at once.
import * as pulumi from '@pulumi/pulumi';
import { checkInputs, ConnectionInputs, connectionProps, diffInputs, HostArgs, SECRET_OUTPUTS, targetOf } from './contract';
import { Runner, runOverSsh, script } from './ssh';

export interface ServiceAddressInputs extends ConnectionInputs {
  ip: string;
  prefixLength: number;
  interface: string;
  label: string;
  present: boolean;
}

/** Exit code of CLAIM when another machine answers for the address. */
export const ADDRESS_IN_USE = 3;

// $1 ip, $2 prefix, $3 interface, $4 label. Idempotent: an address already here is kept.
const CLAIM = `set -eu
ip=$1 prefix=$2 dev=$3 label=$4
if ip -4 -o addr show dev "$dev" | grep -qF " inet $ip/"; then echo kept; exit 0; fi
# Duplicate-address detection: no answer within half a second (timeout's 124) means the address is
# free; a LAN host answers ARP in milliseconds.
dad=0
timeout 0.5 arping -q -D -c 1 -w 1 -I "$dev" "$ip" || dad=$?
case $dad in
  0|124) ;;
  1)
    owner=$(arping -c 1 -w 1 -I "$dev" "$ip" 2>/dev/null | sed -n 's/.*\\[\\(.*\\)\\].*/\\1/p' | head -n 1)
    echo "$ip is still answered for by \${owner:-another machine} on $dev: someone else holds the service IP" >&2
    exit ${ADDRESS_IN_USE} ;;
  *)
    echo "duplicate-address detection for $ip on $dev failed (arping exit $dad)" >&2
    exit 1 ;;
esac
ip addr add "$ip/$prefix" brd + dev "$dev" label "$label"
# Gratuitous ARP, the first at once, two more a second apart for those that missed it; arping
# lingers a second after each, so it runs on in the background.
arping -q -U -c 3 -I "$dev" "$ip" </dev/null >/dev/null 2>&1 &
echo added`;

const RELEASE = `set -eu
ip=$1 prefix=$2 dev=$3
if ip -4 -o addr show dev "$dev" | grep -qF " inet $ip/"; then ip addr del "$ip/$prefix" dev "$dev"; echo removed; else echo absent; fi`;

// Prints the label the address carries on the interface, or nothing.
const OBSERVE = `ip -4 -o addr show dev "$2" | awk -v ip="$1" '{ split($4, a, "/"); if (a[1] == ip) print $NF }'`;

export function serviceAddressProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const converge = async (inputs: ServiceAddressInputs) => {
    const { ip, prefixLength, interface: dev, label } = inputs;
    const target = targetOf(inputs);
    if (!inputs.present) return (await run(target, script(RELEASE, ip, String(prefixLength), dev))).stdout.trim();
    const result = await run(target, script(CLAIM, ip, String(prefixLength), dev, label), { allowFailure: true });
    if (result.code === ADDRESS_IN_USE) {
      throw new Error(`${inputs.host}: refusing to add the service IP ${ip}: ${result.stderr.trim()}`);
    }
    if (result.code !== 0) throw new Error(`${inputs.host}: adding the service IP ${ip} failed: ${result.stderr.trim()}`);
    return result.stdout.trim();
  };
  return {
    async check(_olds: ServiceAddressInputs, news: ServiceAddressInputs) {
      return checkInputs((z, g) => ({
        ip: g.ipv4Address,
        prefixLength: g.prefixLength,
        interface: g.interfaceName,
        label: g.interfaceLabel,
        present: z.boolean(),
      }), news);
    },
    async diff(_id: string, olds: ServiceAddressInputs, news: ServiceAddressInputs) {
      return diffInputs(olds, news);
    },
    async create(inputs: ServiceAddressInputs) {
      await converge(inputs);
      return { id: `${inputs.host}:${inputs.interface}:${inputs.ip}`, outs: inputs };
    },
    async read(id: string, props: ServiceAddressInputs) {
      const label = (await run(targetOf(props), script(OBSERVE, props.ip, props.interface))).stdout.trim();
      return { id, props: { ...props, present: label !== '', label: label || props.label } };
    },
    async update(_id: string, olds: ServiceAddressInputs, news: ServiceAddressInputs) {
      // Another address, prefix or label: take the old one down before bringing the new one up.
      const moved = (['ip', 'prefixLength', 'interface', 'label'] as const).some((key) => olds[key] !== news[key]);
      if (moved && olds.present) {
        const { ip, prefixLength, interface: dev, label } = olds;
        await converge({ ...news, ip, prefixLength, interface: dev, label, present: false });
      }
      await converge(news);
      return { outs: news };
    },
    async delete(_id: string, props: ServiceAddressInputs) {
      // A resource that holds the address gives it back; one that kept it absent leaves things be.
      if (props.present) await converge({ ...props, present: false });
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
}

export class ServiceAddress extends pulumi.dynamic.Resource {
  declare readonly present: pulumi.Output<boolean>;

  constructor(name: string, args: ServiceAddressArgs, opts?: pulumi.CustomResourceOptions) {
    const { ip, prefixLength, label, present } = args;
    super(serviceAddressProvider(), name, { ...connectionProps(args), ip, prefixLength, interface: args.interface, label, present },
      { ...opts, additionalSecretOutputs: SECRET_OUTPUTS });
  }
}
