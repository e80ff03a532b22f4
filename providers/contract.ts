// What every host provider shares: the connection inputs, `check` with zod and `diff` that names
// exactly the properties forcing a replacement. Only functions live here (no zod objects at module
// level): providers are serialized into the state as code, and functions serialize as text.
import * as pulumi from '@pulumi/pulumi';
import type { z as zod, ZodRawShape } from 'zod';
import type { SshTarget } from './ssh';

type Zod = typeof zod;

/** The inputs that say how to reach the host; `privateKey` is a secret input. */
export interface ConnectionInputs {
  host: string;
  address: string;
  sshPort: number;
  user: string;
  hostKey: string;
  privateKey: string;
}

/** The provider-side schema of the connection inputs; same rules as the stack config's machines. */
export function connectionShape(z: Zod) {
  return {
    host: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a host name of lowercase letters, digits and hyphens'),
    address: z.string().regex(/^(?:\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$/,
      'an IPv4 address or DNS name'),
    sshPort: z.number().int().min(1).max(65535),
    user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a Unix user name'),
    hostKey: z.string().regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}$/,
      'an OpenSSH public key line "<type> <base64>"'),
    privateKey: z.string().regex(/^-----BEGIN [A-Z ]*PRIVATE KEY-----\n[\s\S]+\n-----END [A-Z ]*PRIVATE KEY-----\n?$/,
      'an OpenSSH private key'),
  };
}

/** How a component says which host a resource lives on; the key travels separately, as a secret. */
export interface HostArgs {
  connection: pulumi.Input<Omit<ConnectionInputs, 'privateKey'>>;
  privateKey: pulumi.Input<string>;
}

/** The connection flattened into resource inputs, with the private key marked secret. */
export function connectionProps(args: HostArgs): pulumi.Inputs {
  const connection = pulumi.output(args.connection);
  return {
    host: connection.host, address: connection.address, sshPort: connection.sshPort, user: connection.user,
    hostKey: connection.hostKey, privateKey: pulumi.secret(args.privateKey),
  };
}

/** Every host resource keeps its private-key output secret too (outputs are not secret by inheritance). */
export const SECRET_OUTPUTS = ['privateKey'];

export function targetOf(inputs: ConnectionInputs): SshTarget {
  const { host, address, sshPort, user, hostKey, privateKey } = inputs;
  return { host, address, port: sshPort, user, hostKey, privateKey };
}

/**
 * `check` for a provider whose inputs are the connection plus `shape(z)`: every failure is reported
 * per property, and the private key is never echoed.
 */
export function checkInputs<T>(shape: (z: Zod) => ZodRawShape, news: T): pulumi.dynamic.CheckResult<T> {
  const { z } = require('zod') as typeof import('zod');
  // The engine's own input: the serialized provider, which must travel on untouched.
  const { __provider, ...inputs } = news as Record<string, unknown>;
  const parsed = z.object({ ...connectionShape(z), ...shape(z) }).strict().safeParse(inputs);
  if (parsed.success) return { inputs: { ...parsed.data, __provider } as T, failures: [] };
  return {
    failures: parsed.error.issues.map((issue) => {
      const property = issue.path.join('.') || '(inputs)';
      const value = issue.path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)?.[k], inputs);
      const shown = issue.path[0] === 'privateKey' ? '(secret)' : JSON.stringify(value);
      return { property, reason: `${property}: ${issue.message}, got ${shown}` };
    }),
  };
}

/**
 * `diff` of the stored outputs against the new inputs, over the inputs' keys (`check` fills in every
 * default, so all are present; outputs may carry more). `changes` is always set; a change of the host
 * (another machine, not another way to reach the same one) or of a property in `replaceOn` replaces.
 */
export function diffInputs<T extends object>(olds: T, news: T, replaceOn: (keyof T)[] = []): pulumi.dynamic.DiffResult {
  const keys = Object.keys(news) as (keyof T)[];
  const changed = keys.filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
  const replaces = changed.filter((key) => key === 'host' || replaceOn.includes(key)).map(String);
  return { changes: changed.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
}
