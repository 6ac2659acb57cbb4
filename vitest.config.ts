import { fileURLToPath } from 'node:url';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const src = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/**
 * `npm run test:quick` (CLAUDEMESH_TEST_QUICK=1, embedded database only): leaves out the suites that
 * spawn many processes or wait on purpose (crash, fault, fuzz, single-binary and most real-CLI
 * suites). For development; CI and `npm test` run everything.
 */
const QUICK_EXCLUDE = [
  'apps/broker/test/crash-recovery.spec.ts',
  'apps/broker/test/fault-*.spec.ts',
  'apps/broker/test/fuzz.spec.ts',
  'apps/broker/test/startup-failure.spec.ts',
  'apps/broker/test/bootstrap.spec.ts',
  'apps/broker/test/bench-topic-e2e.spec.ts',
  'apps/broker/test/bench-bridge.spec.ts',
  'plugins/*/test/*.spec.ts',
  'apps/broker/src/db/embedded-postgres.spec.ts',
  'apps/cli/test/*.spec.ts',
  'apps/web/test/*.e2e.spec.ts',
];
const quick = process.env['CLAUDEMESH_TEST_QUICK'] === '1';

export default defineConfig({
  plugins: [
    // Nest relies on decorator metadata, which esbuild does not emit.
    swc.vite({ jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2023' } }),
  ],
  resolve: {
    alias: [
      { find: '@claudemesh/crypto', replacement: src('./libs/crypto/src/index.ts') },
      { find: '@claudemesh/core/body', replacement: src('./libs/core/src/protocol/v1/body-codec.ts') },
      { find: /^@claudemesh\/core$/, replacement: src('./libs/core/src/index.ts') },
      { find: /^@claudemesh\/plugin$/, replacement: src('./libs/plugin/src/index.ts') },
      { find: /^@claudemesh\/plugin\/manifest$/, replacement: src('./libs/plugin/src/manifest.ts') },
      { find: /^@claudemesh\/plugin\/control$/, replacement: src('./libs/plugin/src/control-socket.ts') },
      { find: /^@claudemesh\/gateway$/, replacement: src('./libs/gateway/src/index.ts') },
      { find: /^@claudemesh\/gateway\/link$/, replacement: src('./libs/gateway/src/link.ts') },
    ],
  },
  test: {
    include: ['libs/*/src/**/*.spec.ts', 'libs/*/test/**/*.spec.ts', 'apps/*/src/**/*.spec.ts', 'apps/*/test/**/*.spec.ts', 'plugins/*/src/**/*.spec.ts', 'plugins/*/test/**/*.spec.ts'],
    exclude: ['**/node_modules/**', ...(quick ? QUICK_EXCLUDE : [])],
    globalSetup: ['./test/global-setup.ts'],
    // The default reporter prints failures in full; the progress reporter adds a counter and a heartbeat.
    reporters: ['default', './test/progress-reporter.ts'],
    // Timeouts only catch hangs: wide, so a loaded 2-core machine never trips them.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    // Files share their worker's module cache: Nest, TypeORM, PGlite and the protocol are loaded once
    // per worker instead of once per file (the suite ran in 555 s isolated, 368 s shared). Every
    // file builds its own brokers, databases and homes, so nothing else is shared; a test that needs
    // a module's first state takes a fresh copy (vi.resetModules, as sodium.spec does).
    isolate: false,
  },
});
