// The engine's events as they happen: the CLI sends each one to a gRPC server of ours
// (`--event-log tcp://127.0.0.1:<port>`, the stream the Automation API reads since Pulumi 3.206),
// instead of the log file it would otherwise write, which a reader could only poll.
import * as grpc from '@grpc/grpc-js';
import type { EngineEvent } from '@pulumi/pulumi/automation/events';
import * as eventsrpc from '@pulumi/pulumi/proto/events_grpc_pb';
import { Empty } from 'google-protobuf/google/protobuf/empty_pb';

interface StreamEventsRequest { getEvent(): string }

/**
 * Runs the CLI given the arguments that make it send its events to `onEvent`. The CLI takes
 * `--event-log` only with PULUMI_DEBUG_COMMANDS=true in its environment, as the Automation API runs it.
 */
export async function withEventStream<R>(onEvent: (event: EngineEvent) => void, run: (args: string[]) => Promise<R>): Promise<R> {
  const server = new grpc.Server();
  // Every call ends (its `end`) before the CLI exits: the last event has arrived when `run` resolves.
  const streams: Promise<void>[] = [];
  server.addService(eventsrpc.EventsService, {
    streamEvents(call: grpc.ServerReadableStream<StreamEventsRequest, Empty>, callback: grpc.sendUnaryData<Empty>) {
      streams.push(new Promise((resolve) => {
        call.on('data', (request: StreamEventsRequest) => {
          let event: EngineEvent | undefined;
          try {
            event = JSON.parse(request.getEvent()) as EngineEvent;
          } catch {
            return; // a line we cannot read is no reason to stop a switch
          }
          onEvent(event);
        });
        call.on('end', () => {
          callback(null, new Empty());
          resolve();
        });
        call.on('error', () => resolve());
      }));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))));
  try {
    const result = await run(['--event-log', `tcp://127.0.0.1:${port}`]);
    await Promise.all(streams);
    return result;
  } finally {
    server.forceShutdown();
  }
}
