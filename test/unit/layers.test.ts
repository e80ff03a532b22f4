// The house's floors, read from the code's own imports (TypeScript's pre-processor: static, dynamic and
// type-only imports, and require calls): model < providers < components < index.ts < ops, with sandbox/
// and bench/ beside. No file imports from a floor above its own, the program never imports the sandbox,
// the bench or the tests, and no files import each other in a circle.
import { existsSync, readdirSync, readFileSync, statSync } from 'fs';
import { dirname, join, relative, resolve } from 'path';
import * as ts from 'typescript';

const ROOT = join(__dirname, '..', '..');
const FOLDERS = ['model', 'providers', 'components', 'ops', 'sandbox', 'bench'];

/** A file's floor; sandbox/ stands on the providers' floor (it uses their SSH constants), bench/ beside ops. */
function floorOf(file: string): number {
  const top = file.split('/')[0];
  const floors: Record<string, number> = { model: 0, providers: 1, sandbox: 1.5, components: 2, 'index.ts': 3, ops: 4, bench: 5 };
  if (!(top in floors)) throw new Error(`no floor for ${file}`);
  return floors[top];
}

function sources(folder: string): string[] {
  return readdirSync(join(ROOT, folder)).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The project's files a file imports (paths from the root), whatever the kind of import. */
export function importsOf(file: string, text = readFileSync(join(ROOT, file), 'utf8')): string[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles.map((f) => f.fileName).filter((name) => name.startsWith('.')).map((name) => {
    const base = resolve(ROOT, dirname(file), name);
    const found = [`${base}.ts`, join(base, 'index.ts'), base].find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
    if (!found) throw new Error(`${file} imports ${name}, which is not a file of the project`);
    return relative(ROOT, found);
  });
}

/** Every circle of the import graph, each once, as the files in its loop. */
export function circlesOf(graph: Map<string, string[]>): string[][] {
  // Tarjan's strongly connected components: a component of more than one file (or a file importing itself) is a circle.
  let index = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const circles: string[][] = [];
  const visit = (file: string) => {
    order.set(file, index);
    low.set(file, index++);
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!order.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (stack.includes(next)) {
        low.set(file, Math.min(low.get(file)!, order.get(next)!));
      }
    }
    if (low.get(file) === order.get(file)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        component.push(member);
      } while (member !== file);
      if (component.length > 1 || (graph.get(file) ?? []).includes(file)) circles.push(component.sort());
    }
  };
  for (const file of graph.keys()) if (!order.has(file)) visit(file);
  return circles;
}

/** Imports that run from a floor up to a higher one, or from the program into the sandbox, bench or tests. */
export function arrowsUp(graph: Map<string, string[]>): string[] {
  return [...graph].flatMap(([file, imported]) => imported
    .filter((target) => target.startsWith('test/') || floorOf(target) > floorOf(file)
      || (![1.5, 4, 5].includes(floorOf(file)) && floorOf(target) === 1.5))
    .map((target) => `${file} -> ${target}`));
}

const graph = new Map([...FOLDERS.flatMap(sources), 'index.ts'].map((file) => [file, importsOf(file)]));

test('the import graph has every file of the program, the sandbox and the bench', () => {
  expect(graph.size).toBeGreaterThan(40);
  expect([...graph.keys()].filter((f) => f.startsWith('ops/')).length).toBeGreaterThan(5);
});

test('no import runs from a lower floor to a higher one (model < providers < components < index.ts < ops)', () => {
  expect(arrowsUp(graph)).toEqual([]);
});

test('no files import each other in a circle', () => {
  expect(circlesOf(graph)).toEqual([]);
});

test('the reading finds every kind of import: type-only, dynamic, require', () => {
  expect(importsOf('model/x.ts', "import type { Pair } from './pairs';\nconst e = await import('../ops/engine');\nrequire('../providers/ssh');"))
    .toEqual(['model/pairs.ts', 'ops/engine.ts', 'providers/ssh.ts']);
});

test('the checks find what they look for: an arrow up, the program into the sandbox, a circle', () => {
  const made = new Map([
    ['model/a.ts', ['model/b.ts']],
    ['model/b.ts', ['model/a.ts']],
    ['providers/c.ts', ['ops/engine.ts', 'sandbox/index.ts']],
    ['ops/d.ts', ['sandbox/index.ts', 'model/a.ts']],
  ]);
  expect(arrowsUp(made)).toEqual(['providers/c.ts -> ops/engine.ts', 'providers/c.ts -> sandbox/index.ts']);
  expect(circlesOf(made)).toEqual([['model/a.ts', 'model/b.ts']]);
});
