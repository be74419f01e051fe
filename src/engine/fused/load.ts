// Finds and compiles the fused kernels' WebAssembly for this runtime. Host-specific (reads an
// asset through the platform layer), so it stays out of kernels.ts, which workers also load.
import { detectEnvironment } from '../../backend/env.js';
import { type AssetName, providedAsset, readAsset } from '../../platform/assets.js';
import { memoPromise } from '../memo.js';
import {
  FusedLeNetError,
  type FusedVariant,
  instantiateFusedLeNet,
  type WasmLeNet,
} from './kernels.js';
import type { KernelSet } from './net-kernels.js';

/** A compiled fused module: instances (one per thread) are made from it. */
export interface CompiledFusedModule {
  readonly variant: FusedVariant;
  readonly module: WebAssembly.Module;
}

/**
 * Which kernel set: `'lenet'`, the default LeNet's hand-tuned kernels (asm/lenet.ts);
 * `'generic'`, the layer-table kernels of every other model (asm/net.ts).
 */
type KernelSetKind = KernelSet['kind'];

const compiled = new Map<string, Promise<CompiledFusedModule>>();

/**
 * Compiles the build this engine runs: relaxed SIMD (fused multiply-add) where the runtime has
 * it and `relaxedSimd` is not `false`, else plain SIMD. Cached per build: every model shares one
 * compiled module. Callers check SIMD support first (choose.ts); a file that cannot be read or
 * compiled rejects with an `AssetError` naming the location, or a {@link FusedLeNetError}.
 */
export function compileFusedModule(
  options: { relaxedSimd?: boolean | 'auto'; kernels?: KernelSetKind } = {},
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
  const kernels = options.kernels ?? 'lenet';
  let variant: FusedVariant = wanted !== false && relaxedSimd ? 'relaxed-simd' : 'simd';
  // Builds the app provided (setAssets) are the only ones it can have: pick among them.
  const givenSimd = providedAsset(assetName(kernels, 'simd')) !== undefined;
  const givenRelaxed = providedAsset(assetName(kernels, 'relaxed-simd')) !== undefined;
  if (variant === 'relaxed-simd' && givenSimd && !givenRelaxed && wanted !== true) variant = 'simd';
  const key = `${kernels} ${variant}`;
  // A failure must not stick: the next model tries again.
  return memoPromise(compiled, key, () => compile(kernels, variant));
}

async function compile(
  kernels: KernelSetKind,
  variant: FusedVariant,
): Promise<CompiledFusedModule> {
  const name = assetName(kernels, variant);
  const given = providedAsset(name);
  // A precompiled module is used as is: some runtimes (workerd) forbid compiling at run time.
  if (given instanceof WebAssembly.Module) return { variant, module: given };
  const bytes = await readAsset(name, () => assetUrl(kernels, variant));
  try {
    return { variant, module: await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>) };
  } catch (err) {
    const what = kernels === 'lenet' ? 'fused kernels' : 'generic fused kernels';
    throw new FusedLeNetError(`Cannot compile the ${what} (${name}): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function assetName(kernels: KernelSetKind, variant: FusedVariant): AssetName {
  return `${kernels === 'lenet' ? 'lenet' : 'net'}-${variant}.wasm`;
}

/**
 * Where a build is, beside this module. Literal `new URL` calls so that bundlers which
 * understand them also emit the assets; an app can relocate them (initBackend({ assetBase })).
 * A missing file is an AssetError.
 */
function assetUrl(kernels: KernelSetKind, variant: FusedVariant): URL {
  if (kernels === 'lenet') {
    return variant === 'relaxed-simd'
      ? new URL('./lenet-relaxed-simd.wasm', import.meta.url)
      : new URL('./lenet-simd.wasm', import.meta.url);
  }
  return variant === 'relaxed-simd'
    ? new URL('./net-relaxed-simd.wasm', import.meta.url)
    : new URL('./net-simd.wasm', import.meta.url);
}

/** A fresh fused LeNet instance (tests, benchmarks). */
export async function loadFusedLeNet(
  options: { relaxedSimd?: boolean | 'auto' } = {},
): Promise<WasmLeNet> {
  const { variant, module } = await compileFusedModule(options);
  return instantiateFusedLeNet(variant, module);
}
