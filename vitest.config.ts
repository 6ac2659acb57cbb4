import { fileURLToPath } from 'node:url';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const src = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

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
    ],
  },
  test: {
    include: ['libs/*/src/**/*.spec.ts', 'libs/*/test/**/*.spec.ts', 'apps/*/src/**/*.spec.ts', 'apps/*/test/**/*.spec.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
