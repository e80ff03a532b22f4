// ServiceChecks: the runbook's post-switch checks (3.1 step 5) on the host that now serves, run by
// every `up` that switches and by `refresh`. The website must answer on the service IP (asked from
// the operator's machine, like a user would); on the host, Apollo and every mongrel port listen,
// PostgreSQL has the database over TCP and the socket, both rsync daemons run and the runbook's logs
// exist. A failed check fails the `up` with the check's name and what it saw.
import * as pulumi from '@pulumi/pulumi';
import { LAST_REPLICATION } from '../model/hostPaths';
import { checkInputs, ConnectionInputs, connectionProps, connectionShape, diffInputs, HostArgs, HostResource, SECRET_OUTPUTS, targetOf } from './contract';
import { hostScript } from './project';
import { ARPING_SENDER_MAC, Runner, runOverSsh, script } from './ssh';

export interface ServiceChecksInputs extends ConnectionInputs {
  /** The pair these checks follow: a new pair runs them again (and `refresh` always does). */
  reason: string;
  serviceIp: string;
  /** The interface the service IP lives on, to ask the LAN who else answers for it. */
  interface: string;
  websitePort: number;
  apolloPort: number;
  mongrelPorts: number[];
  rsyncPorts: number[];
  database: string;
  /** The application's own role, if it has one (sounz:replication.appRole): the database is checked as it. */
  appRole?: string;
  /** The host whose stamp says when the data was last replicated: the standby, or the server if alone. */
  replicaHost: Omit<ConnectionInputs, 'privateKey'>;
}

export interface ServiceChecksOutputs extends ServiceChecksInputs {
  /** Check name -> "ok" or what it saw. */
  results: Record<string, string>;
  /** "<time> <source>" of the last good replication, or "never". */
  lastReplication: string;
}

export const RUNBOOK_LOGS = [
  '/var/log/sounz/sounz-app/production.log',
  '/var/log/apollo/apollo.log',
  '/var/log/sounz/apache2/sounz.org.nz-access.log',
  '/var/log/sounz/apache2/sounz.org.nz-error.log',
  '/var/log/sounz/sounz-general.log',
];

/**
 * Shell: the MACs of the other machines that answer ARP for $ip on $dev, space-separated, by
 * duplicate-address detection (a probe from 0.0.0.0: the host that sends it never answers itself).
 */
export const OTHERS_ANSWERING = `arping -D -c 2 -w 1 -I "$dev" "$ip" 2>/dev/null | sed -n '${ARPING_SENDER_MAC}' | sort -u | tr '\\n' ' '`;

// The checks on the host (providers/scripts/checks.sh), after the function it asks the LAN with.
const CHECKS = `others_answering() { ${OTHERS_ANSWERING}; }\n` + hostScript('checks.sh');

/** "ok" when the website answers on ip:port with 2xx or 3xx, else what it did. */
export function httpStatus(ip: string, port: number): Promise<string> {
  const http = require('http') as typeof import('http');
  return new Promise((resolve) => {
    const request = http.get({ host: ip, port, path: '/', timeout: 5_000, agent: false }, (response) => {
      response.resume();
      const code = response.statusCode ?? 0;
      resolve(code >= 200 && code < 400 ? 'ok' : `answered HTTP ${code}`);
    });
    request.on('timeout', () => { request.destroy(); resolve('no answer within 5 s'); });
    request.on('error', (error: Error) => resolve(`no answer: ${error.message}`));
  });
}

export function serviceChecksProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const observe = async (inputs: ServiceChecksInputs): Promise<ServiceChecksOutputs> => {
    const lines = (await run(targetOf(inputs), script(CHECKS, inputs.serviceIp, inputs.database, String(inputs.apolloPort),
      inputs.mongrelPorts.join(' '), inputs.rsyncPorts.join(' '), inputs.appRole ?? '', inputs.interface,
      ...RUNBOOK_LOGS))).stdout.trim().split('\n');
    const results: Record<string, string> = {
      [`website answers on ${inputs.serviceIp}:${inputs.websitePort}`]: await httpStatus(inputs.serviceIp, inputs.websitePort),
    };
    for (const line of lines) {
      const [name, outcome] = line.split('|');
      results[name] = outcome;
    }
    const replica = targetOf({ ...inputs.replicaHost, privateKey: inputs.privateKey });
    const lastReplication = (await run(replica, script(LAST_REPLICATION))).stdout.trim();
    return { ...inputs, results, lastReplication };
  };
  const checked = async (inputs: ServiceChecksInputs) => {
    const outs = await observe(inputs);
    const failed = Object.entries(outs.results).filter(([, outcome]) => outcome !== 'ok');
    if (failed.length > 0) {
      throw new Error(`${inputs.host}: post-switch checks failed: ` +
        failed.map(([name, outcome]) => `check "${name}": ${outcome}`).join('; '));
    }
    return outs;
  };
  return {
    async check(_olds: ServiceChecksInputs, news: ServiceChecksInputs) {
      return checkInputs((z, g) => {
        const { privateKey: _, ...hostShape } = connectionShape(g);
        return {
          reason: z.string().min(1),
          serviceIp: g.ipv4Address,
          interface: g.interfaceName,
          websitePort: g.port,
          apolloPort: g.port,
          mongrelPorts: z.array(g.port),
          rsyncPorts: z.array(g.port),
          database: g.databaseName,
          appRole: g.roleName.optional(),
          replicaHost: z.object(hostShape).strict(),
        };
      }, news);
    },
    async diff(_id: string, olds: ServiceChecksOutputs, news: ServiceChecksInputs) {
      return diffInputs(olds, news);
    },
    async create(inputs: ServiceChecksInputs) {
      return { id: `${inputs.host}:checks`, outs: await checked(inputs) };
    },
    async read(id: string, props: ServiceChecksOutputs) {
      return { id, props: await observe(props) };
    },
    async update(_id: string, _olds: ServiceChecksOutputs, news: ServiceChecksInputs) {
      return { outs: await checked(news) };
    },
  };
}

export interface ServiceChecksArgs extends HostArgs {
  reason: pulumi.Input<string>;
  serviceIp: pulumi.Input<string>;
  interface: pulumi.Input<string>;
  websitePort: pulumi.Input<number>;
  apolloPort: pulumi.Input<number>;
  mongrelPorts: pulumi.Input<number[]>;
  rsyncPorts: pulumi.Input<number[]>;
  database: pulumi.Input<string>;
  appRole?: pulumi.Input<string>;
  replicaHost: pulumi.Input<Omit<ConnectionInputs, 'privateKey'>>;
}

export class ServiceChecks extends HostResource {
  declare readonly results: pulumi.Output<Record<string, string>>;
  declare readonly lastReplication: pulumi.Output<string>;

  constructor(name: string, args: ServiceChecksArgs, opts?: pulumi.CustomResourceOptions) {
    const { reason, serviceIp, websitePort, apolloPort, mongrelPorts, rsyncPorts, database, appRole, replicaHost } = args;
    super('serviceChecks', serviceChecksProvider, name, { ...connectionProps(args), reason, serviceIp, interface: args.interface, websitePort,
      apolloPort, mongrelPorts, rsyncPorts, database, appRole, replicaHost, results: undefined, lastReplication: undefined },
    { ...opts, additionalSecretOutputs: SECRET_OUTPUTS });
  }
}
