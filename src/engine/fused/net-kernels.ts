// The typed view of the generic fused kernels (asm/net.ts, built into net-simd.wasm and
// net-relaxed-simd.wasm next to this file): any sequential network of 5x5 valid convolutions,
// 2x2 pooling, dense layers and ReLU/tanh that ends in 10 logits, i.e. every LeNet variant and
// every MLP the factories build. The default LeNet keeps its hand-tuned kernels (kernels.ts).
// Parameters cross this boundary in tfjs layouts (conv HWIO, dense [in, out], NHWC flatten);
// inside, every output width and every non-image input width is padded to a multiple of 4.
import type { Layer } from '../../model/layers.js';
import { FusedLeNetError } from '../errors.js';
import {
  type AdamStepArgs,
  type BlockName,
  type CommonExports,
  type FusedVariant,
  KernelWrapper,
} from './wrapper.js';

const CLASSES = 10;
/** Fields per layer in the module's table (see asm/net.ts). */
const TABLE_FIELDS = 24;
const MAX_LAYERS = 24;
enum Field {
  Type = 0,
  Activation = 1,
  Mode = 2,
  Out = 3,
  InC = 5,
  OutCP = 7,
  K = 8,
  W = 11,
  B = 12,
  InCReal = 15,
}
/**
 * Working memory the kernels may need per sample (activations, im2col rows, gradients); models
 * above it take tfjs ops. The layers take at least 4 samples at a time, so the working memory
 * stays within 256 MiB (plus the batch's images) of the 4 GiB a WebAssembly memory can have.
 */
export const NET_MAX_BYTES_PER_SAMPLE = 64 * 1024 * 1024;
/**
 * Parameters, gradients, Adam's two moments, a peer's gradients (data-parallel steps) and one
 * transposed weight: at most 1 GiB.
 */
const NET_MAX_PARAMETER_BYTES = 1024 * 1024 * 1024;

/** The module's exports; see the ABI comment at the top of asm/net.ts. */
interface NetExports extends CommonExports {
  tablePtr(): number;
  configure(layers: number, side: number, channels: number): number;
  paramsAddress(): number;
  firstMomentAddress(): number;
  secondMomentAddress(): number;
  adamGuarded(...adam: AdamStepArgs): number;
}

const round4 = (v: number) => Math.ceil(v / 4) * 4;

/** The layers the kernels run (flatten is implicit: NHWC rows are already flat). */
function kernelLayers(layers: readonly Layer[]): Exclude<Layer, { type: 'flatten' }>[] {
  return layers.filter((l): l is Exclude<Layer, { type: 'flatten' }> => l.type !== 'flatten');
}

/**
 * Why the generic kernels cannot run `layers` on `inputSize`² single-channel images, or
 * `undefined` when they can: only 5x5 convolutions, 2x2 pools on even sides, 10 outputs, at
 * most 24 layers, at most {@link NET_MAX_BYTES_PER_SAMPLE} of working memory per sample and
 * 1 GiB for the parameters and their companions.
 */
export function netMismatch(layers: readonly Layer[], inputSize: number): string | undefined {
  const run = kernelLayers(layers);
  if (run.length > MAX_LAYERS) return `${run.length} layers (the kernels take ${MAX_LAYERS})`;
  let side = inputSize;
  let channels = 1;
  let spatial = true;
  let floats = inputSize * inputSize; // the image
  let largest = 0;
  let params = 0; // in the padded layout
  for (const layer of run) {
    const inSize = spatial ? side * side * channels : channels;
    if (layer.type === 'conv') {
      if (layer.kernel !== 5 || !spatial) return `a ${layer.kernel}x${layer.kernel} convolution`;
      const k = 25 * channels;
      side -= 4;
      channels = round4(layer.outChannels);
      params += (k + 1) * channels;
      floats += side * side * (k + channels);
      largest = Math.max(largest, side * side * k);
    } else if (layer.type === 'pool') {
      if (side % 2 !== 0) return `a 2x2 pool on an odd side (${side})`;
      side /= 2;
      floats += 2 * side * side * channels;
    } else {
      spatial = false;
      channels = round4(layer.outUnits);
      params += (inSize + 1) * channels;
      floats += channels;
    }
    largest = Math.max(largest, inSize, spatial ? side * side * channels : channels);
  }
  const last = run[run.length - 1];
  if (last?.type !== 'dense' || last.outUnits !== CLASSES)
    return 'no final dense layer of 10 outputs';
  const paramBytes = 4 * 6 * params;
  if (paramBytes > NET_MAX_PARAMETER_BYTES) {
    return `${params} parameters, which need ${(paramBytes / 2 ** 20).toFixed(0)} MiB in the fused kernels (at most ${NET_MAX_PARAMETER_BYTES / 2 ** 20} MiB)`;
  }
  const bytes = 4 * (floats + 2 * largest + 22);
  if (bytes > NET_MAX_BYTES_PER_SAMPLE) {
    return `a ${inputSize}x${inputSize} input, which needs ${(bytes / 2 ** 20).toFixed(1)} MiB per sample in the fused kernels (at most ${NET_MAX_BYTES_PER_SAMPLE / 2 ** 20} MiB)`;
  }
  return undefined;
}

/**
 * Which kernels a pool's instances run: the default LeNet's (asm/lenet.ts, 32x32 images) or the
 * generic ones (asm/net.ts) configured with a model's layers for `inputSize`² images.
 */
export type KernelSet =
  | { kind: 'lenet' }
  | { kind: 'generic'; layers: readonly Layer[]; inputSize: number };

/** Floats per image of a kernel set's input. */
export function imageFloatsOf(kernels: KernelSet): number {
  return kernels.kind === 'lenet' ? 32 * 32 : kernels.inputSize * kernels.inputSize;
}

/** Where one parameter lives inside a block, and how its tfjs layout maps onto it. */
interface ParamPlacement {
  /** Byte offset in the block. */
  readonly offset: number;
  /** tfjs layout: `groups * channels` rows of `out` floats (a bias: 1 row, 1 group). */
  readonly groups: number;
  readonly channels: number;
  readonly paddedChannels: number;
  readonly out: number;
  readonly paddedOut: number;
  readonly size: number;
}

/** A fresh instance of the generic kernels, configured for `layers` on `inputSize`² images. */
export async function instantiateFusedNet(
  variant: FusedVariant,
  module: WebAssembly.Module,
  layers: readonly Layer[],
  inputSize: number,
): Promise<WasmNet> {
  const reason = netMismatch(layers, inputSize);
  if (reason !== undefined) {
    throw new FusedLeNetError(`The generic fused kernels cannot run a model with ${reason}.`);
  }
  const instance = await WebAssembly.instantiate(module, {});
  return new WasmNet(variant, instance.exports as unknown as NetExports, layers, inputSize);
}

/**
 * One instance of the generic kernels: a network with its own parameters, Adam state and
 * WebAssembly memory (see {@link KernelWrapper}); its parameters are padded to multiples of 4
 * inside the module.
 */
export class WasmNet extends KernelWrapper<NetExports> {
  readonly #placements: ParamPlacement[];

  constructor(
    variant: FusedVariant,
    kernels: NetExports,
    layers: readonly Layer[],
    inputSize: number,
  ) {
    super(variant, kernels, inputSize * inputSize, 'This fused network has been disposed.');
    const run = kernelLayers(layers);
    writeLayerTable(kernels, run);
    if (!kernels.configure(run.length, inputSize, 1)) {
      throw new FusedLeNetError('The generic fused kernels rejected the layer table.');
    }
    this.#placements = placementsOf(kernels, run);
    this.reserve(1);
  }

  protected paramsAddress(k: NetExports): number {
    return k.paramsAddress();
  }

  protected adamGuarded(k: NetExports, adam: AdamStepArgs): number {
    return k.adamGuarded(...adam);
  }

  protected resetMoments(): void {
    const k = this.live();
    new Uint8Array(k.memory.buffer, k.firstMomentAddress(), 2 * k.parameterBytes()).fill(0);
  }

  /** The whole block `which`, as floats. */
  #block(which: BlockName): Float32Array {
    const k = this.live();
    const address =
      which === 'params'
        ? k.paramsAddress()
        : which === 'grads'
          ? k.gradientsAddress()
          : which === 'firstMoment'
            ? k.firstMomentAddress()
            : k.secondMomentAddress();
    return this.floats(address, k.parameterBytes() / 4);
  }

  /** Copies arrays in tfjs layouts into block `which`, leaving the padding zero. */
  protected loadBlock(which: BlockName, arrays: readonly Float32Array[]): void {
    const placements = this.#placements;
    if (arrays.length !== placements.length) {
      throw new FusedLeNetError(`Expected ${placements.length} parameters, got ${arrays.length}.`);
    }
    placements.forEach((p, i) => {
      const a = arrays[i] as Float32Array;
      if (a.length !== p.size) {
        throw new FusedLeNetError(`Parameter ${i} must have ${p.size} elements, got ${a.length}.`);
      }
    });
    const block = this.#block(which);
    block.fill(0);
    placements.forEach((p, i) => {
      const a = arrays[i] as Float32Array;
      const base = p.offset / 4;
      for (let g = 0; g < p.groups; g++) {
        for (let c = 0; c < p.channels; c++) {
          const from = (g * p.channels + c) * p.out;
          block.set(
            a.subarray(from, from + p.out),
            base + (g * p.paddedChannels + c) * p.paddedOut,
          );
        }
      }
    });
  }

  /** Copies of block `which` in tfjs layouts. */
  protected unloadBlock(which: BlockName): Float32Array[] {
    const block = this.#block(which);
    return this.#placements.map((p) => {
      const a = new Float32Array(p.size);
      const base = p.offset / 4;
      for (let g = 0; g < p.groups; g++) {
        for (let c = 0; c < p.channels; c++) {
          const from = base + (g * p.paddedChannels + c) * p.paddedOut;
          a.set(block.subarray(from, from + p.out), (g * p.channels + c) * p.out);
        }
      }
      return a;
    });
  }
}

/** Writes the layer table the module's `configure` reads. */
function writeLayerTable(
  kernels: NetExports,
  run: readonly Exclude<Layer, { type: 'flatten' }>[],
): void {
  const table = new Int32Array(
    kernels.memory.buffer,
    kernels.tablePtr(),
    MAX_LAYERS * TABLE_FIELDS,
  );
  run.forEach((layer, i) => {
    const row = i * TABLE_FIELDS;
    table[row + Field.Type] = layer.type === 'conv' ? 0 : layer.type === 'pool' ? 1 : 2;
    const activation = layer.type === 'pool' ? null : layer.activation;
    table[row + Field.Activation] = activation === 'relu' ? 1 : activation === 'tanh' ? 2 : 0;
    table[row + Field.Mode] = layer.type === 'pool' && layer.mode === 'avg' ? 1 : 0;
    table[row + Field.Out] =
      layer.type === 'conv' ? layer.outChannels : layer.type === 'dense' ? layer.outUnits : 0;
  });
}

/** Where each parameter lies in the configured module (tfjs layout to padded layout). */
function placementsOf(
  kernels: NetExports,
  run: readonly Exclude<Layer, { type: 'flatten' }>[],
): ParamPlacement[] {
  // configure() grew memory: read the table through a fresh view.
  const done = new Int32Array(kernels.memory.buffer, kernels.tablePtr(), MAX_LAYERS * TABLE_FIELDS);
  return run.flatMap((layer, i) => {
    if (layer.type === 'pool') return [];
    const row = i * TABLE_FIELDS;
    const at = (f: Field) => done[row + f] as number;
    const channels = at(Field.InCReal);
    // A convolution's windows hold the real channels only; a dense layer's rows follow the
    // padded activations it reads.
    const paddedChannels = layer.type === 'conv' ? channels : at(Field.InC);
    const groups = at(Field.K) / paddedChannels;
    const out = at(Field.Out);
    const paddedOut = at(Field.OutCP);
    return [
      { offset: at(Field.W), groups, channels, paddedChannels, out, paddedOut, size: 0 },
      { offset: at(Field.B), groups: 1, channels: 1, paddedChannels: 1, out, paddedOut, size: 0 },
    ].map((p) => ({ ...p, size: p.groups * p.channels * p.out }));
  });
}
