// The preflight in a worker thread. An operator command loads @pulumi/pulumi and the program with
// node's synchronous require while the engine starts (a second or more); on the main thread that would
// hold up the preflight's SSH sessions and ARP probes just as long. The worker starts with the command,
// loads what the preflight needs, and observes as soon as it is given the config.
import { isMainThread, parentPort, Worker } from 'worker_threads';
import type { Preflight } from '../components/preflight';
import type { StackConfig } from '../model/config';
import type { Pair } from '../model/pairs';

if (!isMainThread && parentPort) {
  const port = parentPort;
  const { observeHosts } = require('../components/preflight') as typeof import('../components/preflight');
  const { closeConnections } = require('../providers/ssh') as typeof import('../providers/ssh');
  port.once('message', ({ config, next }: { config: StackConfig; next: Pair }) => {
    // Its SSH sessions end here: nothing else in the command uses them.
    void observeHosts(config, next)
      .finally(closeConnections)
      .then((observations) => port.postMessage(observations));
  });
}

/** The preflight's observation by a worker started now; in this thread when the worker fails, or when asked again. */
export function preflightWorker(): Preflight {
  const worker = new Worker(__filename);
  // Never asked (a refused config): it must not keep the command alive.
  worker.unref();
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the preflight worker ended (exit ${code})`)));
  });
  failed.catch(() => undefined);
  let asked = false;
  return (config, next) => {
    const here = () => (require('../components/preflight') as typeof import('../components/preflight')).observeHosts(config, next);
    if (asked) return here();
    asked = true;
    worker.ref();
    const answer = new Promise<Awaited<ReturnType<Preflight>>>((resolve) => worker.once('message', resolve));
    worker.postMessage({ config, next });
    return Promise.race([answer, failed]).catch(here);
  };
}
