// The program's stack on the sandbox hosts: the embedded default that the demo, the switching tests
// and the benchmarks run against. Its backend and passphrase are temporary; only its config differs
// from the real deployment's (Pulumi.primary.yaml), and it points at sandbox addresses only.
import type { SandboxInfo } from '../sandbox';
import { NORMAL } from '../model/pairs';
import { Engine, EngineOptions, PROJECT_DIR } from './engine';

/** A fresh stack of the program configured for the sandbox, in NORMAL; `backend` e.g. `{ backendUrl }`. */
export async function sandboxStack(info: SandboxInfo, stack = 'sandbox', backend: Pick<EngineOptions, 'backendUrl'> = {}): Promise<Engine> {
  const engine = new Engine({ projectDir: PROJECT_DIR, stack, ...backend });
  await engine.init();
  const machine = (name: 'slayer' | 'megadeth') => {
    const { address, sshPort, user, hostKey } = info.hosts[name];
    return JSON.stringify({ name, address, sshPort, user, hostKey });
  };
  await engine.setConfig('sounz:primary', machine('slayer'));
  await engine.setConfig('sounz:secondary', machine('megadeth'));
  await engine.setConfig('sounz:sshPrivateKey', info.operatorPrivateKey, { secret: true });
  await engine.setConfig('sounz:serviceIp', info.serviceIp);
  await engine.setStatuses(NORMAL);
  return engine;
}
