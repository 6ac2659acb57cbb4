/**
 * Running this folder from TypeScript sources (vitest, no build): a worker thread or a child
 * process is plain Node, which cannot load `.ts` on Node 20. This compiles the few files that must
 * run there (the embedded-postgres entry and its worker) with the `typescript` devDependency into
 * `<node_modules>/.cache/claudemesh-db/<hash>/` — a directory from which bare imports such as
 * `@electric-sql/pglite` still resolve — and reuses the result while the sources are unchanged.
 *
 * Never used from dist/: there the compiled worker sits next to embedded-postgres.js.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The files compiled together; they may import each other only as types. */
const RUNTIME_SOURCES = ['embedded-postgres.ts', 'embedded-postgres.worker.ts'] as const;

let compiled: Promise<string> | undefined;

/** Directory holding `embedded-postgres.js` and `embedded-postgres.worker.js` compiled from source. */
export function compiledRuntimeDir(): Promise<string> {
  compiled ??= compile();
  return compiled;
}

async function compile(): Promise<string> {
  const srcDir = fileURLToPath(new URL('.', import.meta.url));
  const require = createRequire(import.meta.url);
  // Anchor the cache in the node_modules that holds the worker's dependencies.
  const socketEntry = require.resolve('@electric-sql/pglite-socket');
  const marker = `${sep}node_modules${sep}`;
  const nodeModules = socketEntry.slice(0, socketEntry.lastIndexOf(marker) + marker.length - 1);

  const sources = RUNTIME_SOURCES.map((name) => ({ name, text: readFileSync(join(srcDir, name), 'utf8') }));
  const tsManifest = readFileSync(require.resolve('typescript/package.json'), 'utf8');
  const hash = createHash('sha256').update((JSON.parse(tsManifest) as { version: string }).version);
  for (const { name, text } of sources) hash.update(`\0${name}\0${text}`);
  const outDir = join(nodeModules, '.cache', 'claudemesh-db', hash.digest('hex').slice(0, 16));
  if (existsSync(join(outDir, 'package.json'))) return outDir;

  // Loading the compiler costs ~0.5 s; only pay it when the sources changed.
  const ts = (await import('typescript')).default;

  const staging = `${outDir}.${process.pid}.${Date.now()}.partial`;
  mkdirSync(staging, { recursive: true });
  for (const { name, text } of sources) {
    const { outputText } = ts.transpileModule(text, {
      fileName: name,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
        inlineSourceMap: true,
        inlineSources: true,
      },
    });
    if (/^\s*import\s[^;]*?from\s+['"]\.{1,2}\//m.test(outputText)) {
      throw new Error(`${name} has a relative value import; the embedded-postgres runtime files may import each other only as types`);
    }
    writeFileSync(join(staging, name.replace(/\.ts$/, '.js')), outputText);
  }
  // Written last: its presence marks a complete directory.
  writeFileSync(join(staging, 'package.json'), '{ "type": "module", "private": true }\n');
  try {
    renameSync(staging, outDir);
  } catch (error) {
    // Another process compiled the same sources first; theirs is identical.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(join(outDir, 'package.json'))) throw error;
  }
  return outDir;
}
