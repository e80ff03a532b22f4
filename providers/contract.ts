// What every host provider shares: the connection inputs, `check` with zod and `diff` that names
// exactly the properties forcing a replacement. Only functions live here (no zod objects at module
// level): providers are serialized into the state as code, and functions serialize as text.
import { existsSync } from 'fs';
import { mkdir, readFile, rename, writeFile } from 'fs/promises';
import { dirname, join } from 'path';
import * as pulumi from '@pulumi/pulumi';
import type { ZodRawShape } from 'zod';
import { grammar, Grammar, Zod } from '../model/grammar';
import { shownValue } from '../model/redact';
import type { SshTarget } from './ssh';
import { BUILD_DIR, RUNS_FROM_BUILD } from './project';

/** The inputs that say how to reach the host; `privateKey` is a secret input. */
export interface ConnectionInputs {
  host: string;
  address: string;
  sshPort: number;
  user: string;
  hostKey: string;
  privateKey: string;
}

/** The connection inputs, in the stack config's own grammar for machines. */
export function connectionShape(g: Grammar) {
  return {
    host: g.hostName,
    address: g.hostnameOrIp,
    sshPort: g.port,
    user: g.unixUser,
    hostKey: g.openSshPublicKey,
    privateKey: g.openSshPrivateKey,
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
 * `check` for a provider whose inputs are the connection plus `shape(z, grammar)`: every failure is
 * reported per property with the value it got, except the private key and a password, anything that looks like one
 * (model/redact.ts), and the values of unknown properties (only their names are given).
 */
export function checkInputs<T>(shape: (z: Zod, g: Grammar) => ZodRawShape, news: T): pulumi.dynamic.CheckResult<T> {
  const { z } = require('zod') as typeof import('zod');
  const g = grammar(z);
  // The engine's own input: the serialized provider, which must travel on untouched.
  const { __provider, ...inputs } = news as Record<string, unknown>;
  const parsed = z.object({ ...connectionShape(g), ...shape(z, g) }).strict().safeParse(inputs);
  if (parsed.success) return { inputs: { ...parsed.data, __provider } as T, failures: [] };
  return {
    failures: parsed.error.issues.map((issue) => {
      const property = issue.path.join('.') || '(inputs)';
      // zod names the unknown keys in the message; the object at the issue's path holds the private key.
      if (issue.code === 'unrecognized_keys') return { property, reason: `${property}: ${issue.message}` };
      const value = issue.path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)?.[k], inputs);
      const shown = issue.path[0] === 'privateKey' || issue.path[0] === 'password' ? '(secret)' : shownValue(value);
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

/**
 * A resource of a dynamic provider: what `pulumi.dynamic.Resource` is (a custom resource of type
 * `pulumi-nodejs:dynamic:Resource` whose `__provider` input is the provider as code), with that code
 * made once per kind of provider. The SDK serializes the provider anew for every resource (its cache is
 * keyed by the provider object), at 0.2-0.3 s each, several seconds of every up. Running from the build
 * (bin/), the code is kept beside it, so each build serializes each kind once; `rm -rf bin` (every
 * build) forgets it. The text is the SDK's own, `serializeFunction(() => provider)`, as the SDK makes it.
 */
export class HostResource extends pulumi.CustomResource {
  constructor(kind: string, provider: () => pulumi.dynamic.ResourceProvider, name: string, props: pulumi.Inputs,
    opts?: pulumi.CustomResourceOptions) {
    super('pulumi-nodejs:dynamic:Resource', name, { ...props, __provider: providerCode(kind, provider) }, opts);
  }
}

const codes = new Map<string, Promise<string>>();

function providerCode(kind: string, make: () => pulumi.dynamic.ResourceProvider): Promise<string> {
  let code = codes.get(kind);
  if (!code) {
    const kept = join(BUILD_DIR, '.providers', `${kind}.js`);
    code = RUNS_FROM_BUILD && existsSync(kept) ? readFile(kept, 'utf8') : serialize(make()).then(async (text) => {
      if (RUNS_FROM_BUILD) {
        // Two runs at once may both write it: each writes its own file, then renames it into place.
        await mkdir(dirname(kept), { recursive: true });
        await writeFile(`${kept}.${process.pid}`, text);
        await rename(`${kept}.${process.pid}`, kept);
      }
      return text;
    });
    codes.set(kind, code);
  }
  return code;
}

async function serialize(provider: pulumi.dynamic.ResourceProvider): Promise<string> {
  const serialized = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  // A secret captured in a provider would make its code a secret: none is (the key travels as an input).
  if (serialized.containsSecrets) throw new Error('a provider captured a secret');
  return serialized.text;
}
