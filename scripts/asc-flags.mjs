// The AssemblyScript flags of the fused kernels: scripts/build-wasm.mjs builds the shipped
// binaries with them, and the bench scripts compile their instrumented copies with the same.

/** Flags of every build. */
export const ASC_FLAGS = [
  '--optimizeLevel',
  '3',
  '--shrinkLevel',
  '0',
  '--noAssert',
  // No allocator or GC: the module manages its own linear memory.
  '--runtime',
  'stub',
  // Nothing can abort, so the module needs no imports.
  '--use',
  'abort=',
  '--enable',
  'simd',
];

/** Added for the relaxed-SIMD (fused multiply-add) build. */
export const RELAXED_FLAGS = ['--enable', 'relaxed-simd'];
