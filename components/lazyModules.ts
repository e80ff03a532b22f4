// Loaded first (`node --require`) by the operator commands, the language host's program and the
// dynamic-provider server: @pulumi/pulumi requires TypeScript (closure serialization's parser) and npm's
// arborist (its walk of the packages a closure needs) when it loads, 0.6-0.9 s of its 1.0-1.4 s here.
// A run that reads the providers' code kept in the build (providers/contract.ts) and the provider
// server never serialize a closure, so both load on their first use instead.
import Module = require('module');
import { dirname } from 'path';

/** The module `request` as @pulumi/pulumi resolves it, loaded when one of its properties is first read. */
function loadOnFirstUse(request: string, from: string): void {
  const path = require.resolve(request, { paths: [from] });
  let loaded: Record<string | symbol, unknown> | undefined;
  const real = () => {
    if (!loaded) {
      delete require.cache[path];
      loaded = require(path) as Record<string | symbol, unknown>;
    }
    return loaded;
  };
  const exports = new Proxy({}, {
    // `__esModule` answered without loading: the SDK's `__importStar` then takes the proxy as it is,
    // instead of copying (and so loading) every property.
    get: (_, key) => (key === '__esModule' ? true : real()[key]),
    has: (_, key) => key in real(),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_, key) => Object.getOwnPropertyDescriptor(real(), key),
  });
  const module = new Module(path);
  Object.assign(module, { filename: path, loaded: true, exports });
  require.cache[path] = module;
}

try {
  const sdk = dirname(require.resolve('@pulumi/pulumi/package.json', { paths: [__dirname] }));
  loadOnFirstUse('typescript', sdk);
  loadOnFirstUse('@npmcli/arborist', sdk);
} catch {
  // Not installed here: nothing to defer, and nothing breaks.
}
