// The program run in-process, as the Automation API runs an inline program: the CLI is told the address
// of a language server inside this process (`--client`) instead of starting the language host, node,
// @pulumi/pulumi and ts-node anew. Same project, stack, backend and resources as a plain `pulumi up`.
// Not `Stack.up` itself: that costs two more CLI runs after the update (outputs, info) and sets config
// only by a CLI run of its own, where `up --config` does it in the same run.
import * as grpc from '@grpc/grpc-js';
import * as langrpc from '@pulumi/pulumi/proto/language_grpc_pb';
import type { EngineResult } from './engine';

/** The Automation API's own language server for inline programs: exported at runtime, kept out of the typings. */
interface LanguageServer {
  onPulumiExit(hasError: boolean): void;
}
const { LanguageServer } = require('@pulumi/pulumi/automation/server') as {
  LanguageServer: new (program: () => Promise<unknown>) => LanguageServer;
};

/** Runs the CLI (`up`, `preview`, `refresh --run-program`) given the arguments that make it run `program` here. */
export async function withInlineProgram(program: () => Promise<unknown>,
  run: (args: string[]) => Promise<EngineResult>): Promise<EngineResult> {
  const server = new grpc.Server();
  const language = new LanguageServer(program);
  server.addService(langrpc.LanguageRuntimeService, language as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))));
  let failed = true;
  try {
    const result = await run([`--client=127.0.0.1:${port}`, '--exec-kind', 'auto.inline']);
    failed = result.code !== 0;
    return result;
  } finally {
    // The SDK's check for promises the program left behind, skipped after an error as the Automation API does.
    language.onPulumiExit(failed);
    server.forceShutdown();
  }
}
