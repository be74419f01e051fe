import { defineConfig } from 'vitest/config';
import { workerSourceVitePlugin } from './scripts/worker-source.mjs';

const DEMO = ['test/browser/demo.test.ts'];

export default defineConfig({
  // The fused engine's worker, bundled into a string as the tsup build does.
  plugins: [workerSourceVitePlugin],
  resolve: {
    // tfjs' ESM entry (`module`) must win over its CJS `main`, as in the tsup build.
    mainFields: ['module', 'jsnext:main', 'main'],
    conditions: ['node', 'import', 'module', 'default'],
  },
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs keeps one global engine per process; each file runs in its own fork so that the
    // backend chosen by one file cannot leak into another.
    pool: 'forks',
    maxWorkers: 2,
    // Node 20 has relaxed SIMD behind a flag; with it the fused kernels' relaxed-SIMD build is
    // tested as fully as the plain one (which tests also force, and which Node users get).
    execArgv: ['--experimental-wasm-relaxed-simd'],
    server: { deps: { inline: [/@tensorflow\//] } },
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: [...DEMO, 'node_modules/**'],
        },
      },
      {
        // The browser demo asserts that no main-thread task exceeds 50 ms while training, a
        // wall-clock measure: it runs after every other file, alone, so that two vitest forks
        // on a 2-core machine do not starve Chromium's main thread.
        extends: true,
        test: { name: 'demo', include: DEMO, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
