// Finds and compiles the fused kernels' WebAssembly for this runtime. Host-specific (reads an
// asset through the platform layer), so it stays out of kernels.ts, which workers also load.
import { detectEnvironment } from '../../backend/env.js';
import { readAsset } from '../../platform/assets.js';
import {
  FusedLeNetError,
  type FusedVariant,
  instantiateFusedLeNet,
  type WasmLeNet,
} from './kernels.js';

/** A compiled fused module: instances (one per thread) are made from it. */
export interface CompiledFusedModule {
  readonly variant: FusedVariant;
  readonly module: WebAssembly.Module;
}

const compiled = new Map<FusedVariant, Promise<CompiledFusedModule>>();

/**
 * Compiles the build this engine runs: relaxed SIMD (fused multiply-add) where the runtime has
 * it and `relaxedSimd` is not `false`, else plain SIMD. Cached per build: every model shares one
 * compiled module. Callers check SIMD support first (choose.ts); a file that cannot be read or
 * compiled rejects with an `AssetError` naming the location, or a {@link FusedLeNetError}.
 */
export function compileFusedModule(
  options: { relaxedSimd?: boolean | 'auto' } = {},
): Promise<CompiledFusedModule> {
  const { simd, relaxedSimd } = detectEnvironment().wasm;
  if (!simd) {
    return Promise.reject(
      new FusedLeNetError('This WebAssembly engine does not support SIMD (fixed-width 128-bit).'),
    );
  }
  const wanted = options.relaxedSimd ?? 'auto';
  if (wanted === true && !relaxedSimd) {
    return Promise.reject(
      new FusedLeNetError(
        'This WebAssembly engine does not support relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd).',
      ),
    );
  }
  const variant: FusedVariant = wanted !== false && relaxedSimd ? 'relaxed-simd' : 'simd';
  let pending = compiled.get(variant);
  if (pending === undefined) {
    pending = compile(variant);
    compiled.set(variant, pending);
    // A failure must not stick: the next model tries again.
    pending.catch(() => compiled.delete(variant));
  }
  return pending;
}

async function compile(variant: FusedVariant): Promise<CompiledFusedModule> {
  // Literal `new URL` calls so that bundlers which understand them also emit the assets; an
  // app can relocate them (initBackend({ assetBase })). A missing file is an AssetError.
  const name = variant === 'relaxed-simd' ? 'lenet-relaxed-simd.wasm' : 'lenet-simd.wasm';
  const bytes =
    variant === 'relaxed-simd'
      ? await readAsset(name, new URL('./lenet-relaxed-simd.wasm', import.meta.url))
      : await readAsset(name, new URL('./lenet-simd.wasm', import.meta.url));
  try {
    return { variant, module: await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>) };
  } catch (err) {
    throw new FusedLeNetError(
      `Cannot compile the fused kernels (${name}): ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** A fresh fused LeNet instance (tests, benchmarks). */
export async function loadFusedLeNet(
  options: { relaxedSimd?: boolean | 'auto' } = {},
): Promise<WasmLeNet> {
  const { variant, module } = await compileFusedModule(options);
  return instantiateFusedLeNet(variant, module);
}
