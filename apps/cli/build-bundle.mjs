#!/usr/bin/env node
/**
 * Bundles the CLI into apps/cli/dist-bundle/ (what the npm package ships).
 *
 * Input is tsc's output (dist/main.js), not the TS sources: Nest needs `emitDecoratorMetadata`,
 * which esbuild does not emit. ESM code splitting keeps every dynamic `import()` of main.ts a
 * separate chunk, so `--version` loads the entry chunk only and `daemon run` skips the command tree.
 *
 *   node apps/cli/build-bundle.mjs             build (run by the root `npm run build` after tsc -b)
 *   node apps/cli/build-bundle.mjs --prepack   (npm pack) run tsc -b first, then build unless the
 *                                              bundle is newer than tsc's last build
 *
 * Writes dist-bundle/meta.json (esbuild's metafile; not shipped) for size analysis and for
 * apps/cli/test/packaging.spec.ts, which checks what the entry chunk imports.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, 'dist-bundle');
const entry = join(here, 'dist', 'main.js');

/** Installed with the package (see package.json "dependencies"): a native addon cannot be bundled. */
const EXTERNAL = ['better-sqlite3'];

/**
 * Modules that code we bundle reaches but that claudemesh never runs. Each becomes a tiny stub so
 * it neither bloats the bundle nor, when it happens to be installed in the monorepo (the broker's
 * @nestjs/websockets), gets pulled in from there.
 * - `missing`: a stub that throws MODULE_NOT_FOUND when loaded. Nest loads these optional
 *   packages inside try/catch (`optionalRequire`, `tryLoadPackage`), exactly as if not installed.
 * - `inert`: a stub whose functions throw when called. For modules that are loaded eagerly but only
 *   used by features we do not enable.
 */
const MISSING = [
  // Nest optional peers (loaded with import() in try/catch by @nestjs/core / @nestjs/common)
  'class-validator',
  'class-transformer',
  '@nestjs/microservices',
  '@nestjs/websockets',
  '@nestjs/platform-express',
  '@nestjs/platform-socket.io',
  // nest-commander's shell-completion feature (needs prettier): required lazily, we do not enable it
  '@fig/complete-commander',
  // cosmiconfig's loader for *.ts config files: required lazily (9 MB)
  'typescript',
];
const INERT = {
  // nest-commander's InquirerService gets inquirer as a provider value at module load; claudemesh
  // has no interactive prompts (@QuestionSet), and inquirer 8 drags in lodash, iconv-lite, ora…
  inquirer: ['prompt', 'createPromptModule', 'registerPrompt', 'restoreDefaultPrompts'],
  // nest-commander's plugin discovery (CommandFactory.run({ usePlugins: true })), which we do not use.
  cosmiconfig: ['cosmiconfig', 'cosmiconfigSync'],
};

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const matcher = (names) => new RegExp(`^(?:${names.map(escape).join('|')})(?:/.*)?$`);

/** @type {import('esbuild').Plugin} */
const stubs = {
  name: 'claudemesh-stubs',
  setup(b) {
    b.onResolve({ filter: matcher(MISSING) }, (args) => ({ path: args.path, namespace: 'cmh-missing' }));
    b.onResolve({ filter: matcher(Object.keys(INERT)) }, (args) => ({ path: args.path.split('/')[0], namespace: 'cmh-inert' }));
    // CommonJS-shaped, so esbuild wraps them lazily: nothing throws until something loads them.
    b.onLoad({ filter: /.*/, namespace: 'cmh-missing' }, (args) => ({
      loader: 'js',
      contents: `const e = new Error(${JSON.stringify(`Cannot find module '${args.path}' (left out of the claudemesh bundle, see apps/cli/build-bundle.mjs)`)});
e.code = 'MODULE_NOT_FOUND';
throw e;
module.exports = {};`,
    }));
    b.onLoad({ filter: /.*/, namespace: 'cmh-inert' }, (args) => ({
      loader: 'js',
      contents: `const notBundled = () => { throw new Error(${JSON.stringify(`${args.path} is not bundled in claudemesh (see apps/cli/build-bundle.mjs)`)}); };
module.exports = { ${INERT[args.path].map((f) => `${f}: notBundled`).join(', ')} };`,
    }));
  },
};

/** @type {import('esbuild').Plugin} */
const trims = {
  name: 'claudemesh-trims',
  setup(b) {
    // rxjs resolves to its CommonJS build under the "node" condition: all of it (340 KB) is then
    // bundled and evaluated at start. Its ES2015 build is the same code, and with
    // "sideEffects": false esbuild keeps only the operators Nest uses.
    const rxjs = dirname(createRequire(import.meta.url).resolve('rxjs/package.json'));
    b.onResolve({ filter: /^rxjs(?:\/operators)?$/ }, (args) => ({
      path: join(rxjs, 'dist', 'esm', args.path === 'rxjs' ? 'index.js' : 'operators/index.js'),
    }));
    // zod re-exports its ~45 error-message locales as a namespace (`z.locales`), which the bundle
    // cannot drop (370 KB, parsed by every verb). English is the default and the only one we use.
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]v4[\\/]/.test(args.importer) ? { path: join(args.resolveDir, '..', 'locales', 'en-only.js'), namespace: 'cmh-zod-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'cmh-zod-locales' }, (args) => ({
      loader: 'js',
      resolveDir: dirname(args.path),
      contents: `export { default as en } from './en.js';\n`,
    }));
  },
};

/**
 * esbuild turns `await import('cjs-package')` into a chunk that only has a default export (its
 * `module.exports`), where Node would also offer the named exports it finds with cjs-module-lexer:
 * `const { CommandFactory } = await import('nest-commander')` in main.ts would get undefined. So a
 * dynamic import of a CommonJS package goes through an ESM facade that re-exports its names, read
 * from the real module at build time (in a child process, so this one stays clean).
 */
const DYNAMIC_CJS = ['nest-commander'];

function cjsExportNames(pkg) {
  const script = `process.stdout.write(JSON.stringify(Object.keys(require(${JSON.stringify(pkg)}))))`;
  const names = JSON.parse(execFileSync(process.execPath, ['--no-warnings', '-e', script], { cwd: here, encoding: 'utf8' }));
  return names.filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default' && n !== '__esModule');
}

/** @type {import('esbuild').Plugin} */
const cjsFacades = {
  name: 'claudemesh-cjs-facades',
  setup(b) {
    b.onResolve({ filter: matcher(DYNAMIC_CJS) }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, namespace: 'cmh-cjs-facade' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'cmh-cjs-facade' }, (args) => {
      const names = cjsExportNames(args.path);
      if (!names.length) throw new Error(`${args.path}: no named exports found`);
      return {
        loader: 'js',
        resolveDir: here,
        // A static namespace import of CommonJS: esbuild gives it the module's properties.
        contents: `import * as cjs from ${JSON.stringify(args.path)};\nexport const { ${names.join(', ')} } = cjs;\n`,
      };
    });
  },
};

async function buildBundle() {
  if (!existsSync(entry)) throw new Error(`${relative(process.cwd(), entry)} is missing: run tsc -b apps/cli/tsconfig.build.json first`);
  // Built aside and swapped in, so a claudemesh started meanwhile (bin/ falls back to dist/ when
  // the bundle is absent) never sees half a bundle.
  const staging = `${outdir}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  const result = await build({
    // Paths in the metafile (and in the bundle's module keys) relative to apps/cli, wherever the
    // build is run from.
    absWorkingDir: here,
    entryPoints: { main: entry },
    outdir: staging,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Every chunk one level below the package root, like dist/<dir>/*.js, so code that resolves a
    // path relative to its own file (daemon/client.ts: new URL('../../bin/claudemesh.js',
    // import.meta.url)) still lands on the package's bin/. Only main.js sits at dist-bundle/, where
    // main.ts expects '../package.json'.
    chunkNames: 'chunks/[name]-[hash]',
    // No tsconfig paths: the root tsconfig.json maps @claudemesh/* to the TS sources, but we bundle
    // the libs' compiled dist (with their decorator metadata), as Node resolves them.
    tsconfig: join(here, 'tsconfig.build.json'),
    external: EXTERNAL,
    plugins: [stubs, trims, cjsFacades],
    // CommonJS dependencies (nest-commander, commander, better-sqlite3's loader) call require().
    banner: { js: "import { createRequire as __cmhCreateRequire } from 'node:module';\nconst require = __cmhCreateRequire(import.meta.url);" },
    legalComments: 'none',
    // A third smaller (less to read and parse at every start). Identifiers are left alone: Nest's
    // errors name classes ("can't resolve dependencies of the PeerListCommand").
    minifyWhitespace: true,
    minifySyntax: true,
    metafile: true,
    logLevel: 'warning',
  });
  // The command tree once more, as one CommonJS file: src/tree-loader.ts compiles it through
  // vm.Script with V8's code cache, which Node 20 offers for scripts but not for ES modules.
  await build({
    absWorkingDir: here,
    entryPoints: [join(here, 'dist', 'command-tree.js')],
    outfile: join(staging, 'chunks', 'tree.cjs'),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    tsconfig: join(here, 'tsconfig.build.json'),
    external: EXTERNAL,
    plugins: [stubs, trims],
    // Its package-relative paths resolve from where the ES chunks sit (tree-loader.ts sets this).
    define: { 'import.meta.url': 'globalThis.__claudemeshTreeUrl' },
    minifyIdentifiers: true,
    keepNames: true,
    legalComments: 'none',
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
  });
  const metafile = JSON.stringify(result.metafile).replaceAll('dist-bundle.tmp/', 'dist-bundle/');
  writeFileSync(join(staging, 'meta.json'), metafile);
  rmSync(outdir, { recursive: true, force: true });
  renameSync(staging, outdir);
  return JSON.parse(metafile);
}

const mtime = (file) => (existsSync(file) ? statSync(file).mtimeMs : 0);

/** The same rule as bin/claudemesh.js: the bundle is stale when tsc wrote after it. */
function bundleIsCurrent() {
  const built = mtime(join(outdir, 'main.js'));
  const compiled = ['dist/.tsbuildinfo', '../../libs/core/dist/.tsbuildinfo', '../../libs/crypto/dist/.tsbuildinfo'].map((f) => mtime(join(here, f)));
  return built > 0 && compiled.every((t) => t <= built);
}

function tscBuild() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', join(here, 'tsconfig.build.json')], { stdio: 'inherit' });
}

if (process.argv.includes('--prepack')) {
  tscBuild();
  if (bundleIsCurrent()) process.exit(0);
}
const metafile = await buildBundle();
const outputs = Object.entries(metafile.outputs).filter(([f]) => f.endsWith('.js'));
const total = outputs.reduce((n, [, o]) => n + o.bytes, 0);
const main = metafile.outputs['dist-bundle/main.js']?.bytes ?? 0;
// `npm run build --silent` (npm start, npm test): quiet like tsc.
if (process.env.npm_config_loglevel !== 'silent') process.stdout.write(`cli bundle: ${outputs.length} files, ${(total / 1024).toFixed(0)} KB (entry main.js ${(main / 1024).toFixed(1)} KB) in ${relative(process.cwd(), outdir)}\n`);
