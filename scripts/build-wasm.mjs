// Compiles the fused kernels (AssemblyScript: asm/lenet.ts, the default LeNet; asm/net.ts, every
// other model the factories build) into two WebAssembly binaries each next to their loader,
// src/engine/fused/: plain SIMD and relaxed SIMD (fused multiply-add).
// Engines without relaxed SIMD reject the second at validation, so the loader keeps both.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';
import { ASC_FLAGS, RELAXED_FLAGS } from './asc-flags.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'src', 'engine', 'fused');

const variants = ['lenet', 'net'].flatMap((name) => [
  { source: join(root, 'asm', `${name}.ts`), file: `${name}-simd.wasm`, flags: [] },
  {
    source: join(root, 'asm', `${name}.ts`),
    file: `${name}-relaxed-simd.wasm`,
    flags: RELAXED_FLAGS,
  },
]);

await mkdir(outDir, { recursive: true });
for (const { source, file, flags } of variants) {
  let binary;
  const { error, stderr } = await asc.main([source, ...ASC_FLAGS, ...flags, '--outFile', file], {
    writeFile(name, contents) {
      if (name === file) binary = contents;
    },
  });
  if (error) {
    process.stderr.write(stderr.toString());
    throw new Error(`AssemblyScript build of ${file} failed: ${error.message}`);
  }
  if (!binary) throw new Error(`AssemblyScript produced no ${file}`);
  await writeFile(join(outDir, file), binary);
  console.log(`${file}: ${binary.length} bytes`);
}
