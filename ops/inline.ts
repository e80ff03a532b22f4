// The program run in-process, as the Automation API runs an inline program: the CLI is told the address
// of a language server inside this process (`--client`) instead of starting the language host, node,
// @pulumi/pulumi and the program anew. Same project, stack, backend and resources as a plain `pulumi up`.
// Not `Stack.up` itself: that costs two more CLI runs after the update (outputs, info) and sets config
// only by a CLI run of its own, where `up --config` does it in the same run.
//
// The server listens before the program is loaded, so that a command that has not loaded it yet
// (replicate-now's record) starts the CLI while it loads; the others load it during the config read
// (ops/program.ts). The SDK's own language server takes the calls from the first one on.
import * as grpc from '@grpc/grpc-js';
import * as langrpc from '@pulumi/pulumi/proto/language_grpc_pb';

/** The SDK's language server for inline programs (exported at runtime, kept out of the typings). */
interface LanguageServer {
  onPulumiExit(hasError: boolean): void;
}

/** The methods the SDK's language server implements; grpc-js answers any other as unimplemented. */
const METHODS = ['getRequiredPlugins', 'run', 'getPluginInfo'] as const;

/** Loads the program (synchronously: node's require) and returns it, ready to run. */
export type ProgramLoader = () => () => Promise<unknown>;

/** Runs the CLI (`up`, `preview`, `refresh --run-program`) given the arguments that make it run the program here. */
export async function withInlineProgram<R extends { code: number }>(load: ProgramLoader, run: (args: string[]) => Promise<R>): Promise<R> {
  let program: (() => Promise<unknown>) | undefined;
  let language: LanguageServer | undefined;
  const sdk = () => {
    if (!language) {
      const { LanguageServer } = require('@pulumi/pulumi/automation/server') as {
        LanguageServer: new (program: () => Promise<unknown>) => LanguageServer;
      };
      language = new LanguageServer(() => program!());
    }
    return language as unknown as Record<(typeof METHODS)[number], grpc.handleUnaryCall<unknown, unknown>>;
  };
  const server = new grpc.Server();
  server.addService(langrpc.LanguageRuntimeService, Object.fromEntries(METHODS.map((name) =>
    [name, (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => sdk()[name](call, callback)])));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))));
  let failed = true;
  try {
    const running = run([`--client=127.0.0.1:${port}`, '--exec-kind', 'auto.inline']);
    // The CLI has started (spawned in run's first step); load while it does.
    program = load();
    sdk();
    const result = await running;
    failed = result.code !== 0;
    return result;
  } finally {
    // The SDK's check for promises the program left behind, skipped after an error as the Automation API does.
    language?.onPulumiExit(failed);
    server.forceShutdown();
  }
}
