import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // tfjs' ESM entry (`module`) must win over its CJS `main`, as in the tsup build.
    mainFields: ['module', 'jsnext:main', 'main'],
    conditions: ['node', 'import', 'module', 'default'],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs keeps one global engine per process; each file runs in its own fork so that the
    // backend chosen by one file cannot leak into another.
    pool: 'forks',
    maxWorkers: 2,
    server: { deps: { inline: [/@tensorflow\//] } },
  },
});
