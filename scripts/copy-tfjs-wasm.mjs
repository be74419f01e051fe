// Puts tfjs-backend-wasm's binaries next to src/backend/wasm.ts, where its
// `new URL(file, import.meta.url)` finds them when the sources run unbundled (tests).
// The tsup build copies the same files next to the bundles in dist/.
import { copyFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const from = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
const to = new URL('../src/backend/', import.meta.url);
for (const file of [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
]) {
  await copyFile(join(from, file), new URL(file, to));
}
