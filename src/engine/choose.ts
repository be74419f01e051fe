import { detectEnvironment } from '../backend/env.js';
import { type AdapterSummary, adapterLabel } from '../backend/webgpu.js';
import { OptionError } from '../errors.js';
import { buildLayers } from '../model/layers.js';
import type { ModelSpec } from '../model/types.js';
import { netMismatch } from './fused/net-kernels.js';
import { type EngineKind, FAST_PATH_OPTIONS, type FastPathOption } from './types.js';
import type { Calibration } from './webgpu/calibrate.js';

/** Which engine computes a model, and why: the one place this is decided. */
export interface EngineChoice {
  readonly kind: EngineKind;
  /** For the fused engine: the hand-tuned default LeNet kernels or the generic ones. */
  readonly kernels?: 'lenet' | 'generic';
  readonly reason: string;
  /**
   * Set when `'auto'` on a hardware WebGPU adapter has no calibration yet: `kind` is then the
   * fused WASM engine, provisionally; binding measures both and chooses again with the result.
   */
  readonly needsCalibration?: true;
}

/** What besides the backend name decides: the WebGPU adapter, and a calibration if one ran. */
export interface ChoiceContext {
  /** The live WebGPU adapter, when the backend is `'webgpu'`. */
  readonly adapter?: AdapterSummary | undefined;
  /** Both fused engines timed on this adapter for the workload at hand. */
  readonly calibration?: Calibration | undefined;
}

/**
 * Which engine computes `spec`. Fused WASM SIMD kernels: the hand-tuned ones for the
 * reference's training network (32x32 input, max pooling, ReLU, no activation after conv2), the
 * generic ones for every other model the factories build (unless too large for them). Fused
 * WebGPU kernels: the default LeNet only. `'auto'` on the WASM backend takes the fused WASM
 * kernels where the engine has SIMD; on WebGPU, for the default LeNet, whichever fused engine was
 * faster in calibration (fused WASM on a software adapter); other models on WebGPU take the
 * generic fused WASM kernels on a software adapter and tfjs ops on the GPU otherwise. The reason
 * names what decided.
 *
 * @throws {@link OptionError} when `fastPath` forces fused kernels that cannot run here (no WASM
 *   SIMD or a model too large for `'wasm'`; another model or no active WebGPU backend for
 *   `'webgpu'`).
 */
export function chooseEngine(
  spec: ModelSpec,
  backend: string,
  fastPath: FastPathOption,
  context: ChoiceContext = {},
): EngineChoice {
  if (fastPath === 'off') return { kind: 'tfjs', reason: "fastPath 'off' asks for tfjs ops" };
  const differences = lenetDifferences(spec);
  const simd = detectEnvironment().wasm.simd;
  if (fastPath === 'wasm' || fastPath === 'webgpu') {
    return chooseForced(spec, backend, fastPath, differences, simd);
  }
  if (backend === 'webgpu') {
    if (differences === undefined) return chooseOnWebGpu(simd, context);
    if (context.adapter === undefined || !context.adapter.isFallback) {
      return {
        kind: 'tfjs',
        reason: `the fused WebGPU kernels cover the default LeNet only; this model has ${differences}: tfjs ops on the WebGPU device`,
      };
    }
  } else if (backend !== 'wasm') {
    return {
      kind: 'tfjs',
      reason: `the fused kernels run on the WASM or WebGPU backend; the active backend is ${backend}`,
    };
  }
  if (!simd) {
    return {
      kind: 'tfjs',
      reason: 'this WebAssembly engine has no SIMD, which the fused kernels need',
    };
  }
  if (differences === undefined) {
    return {
      kind: 'fused',
      kernels: 'lenet',
      reason: 'the default LeNet on the WASM backend with SIMD',
    };
  }
  const tooLarge = netMismatch(buildLayers(spec), spec.inputSize);
  if (tooLarge !== undefined) {
    return { kind: 'tfjs', reason: `the fused kernels do not cover ${tooLarge}` };
  }
  const where =
    backend === 'webgpu'
      ? `(the WebGPU adapter, ${adapterLabel(context.adapter as AdapterSummary)}, is a software fallback adapter, far slower than WASM)`
      : 'on the WASM backend with SIMD';
  return {
    kind: 'fused',
    kernels: 'generic',
    reason: `generic fused kernels ${where}: ${differences}`,
  };
}

/** `'wasm'` or `'webgpu'`: the kernels asked for, or an {@link OptionError} saying why not. */
function chooseForced(
  spec: ModelSpec,
  backend: string,
  fastPath: 'wasm' | 'webgpu',
  differences: string | undefined,
  simd: boolean,
): EngineChoice {
  const refuse = (why: string) =>
    new OptionError('fastPath', `fastPath '${fastPath}' cannot be honoured: ${why}`);
  if (fastPath === 'webgpu') {
    if (differences !== undefined) {
      throw refuse(
        `the fused WebGPU kernels cover the default LeNet only; this model has ${differences}`,
      );
    }
    if (backend !== 'webgpu') {
      throw refuse(
        `the fused WebGPU kernels need the WebGPU backend active (initBackend({ backend: 'webgpu' })); the active backend is ${backend}`,
      );
    }
    return { kind: 'webgpu', reason: "fastPath 'webgpu' asks for the fused WebGPU kernels" };
  }
  if (!simd) throw refuse('this WebAssembly engine has no SIMD, which the fused kernels need');
  if (differences === undefined) {
    return {
      kind: 'fused',
      kernels: 'lenet',
      reason: "fastPath 'wasm' asks for the fused WASM kernels",
    };
  }
  const tooLarge = netMismatch(buildLayers(spec), spec.inputSize);
  if (tooLarge !== undefined) throw refuse(`the fused kernels do not cover ${tooLarge}`);
  return {
    kind: 'fused',
    kernels: 'generic',
    reason: `fastPath 'wasm' asks for the fused WASM kernels (generic: ${differences})`,
  };
}

/** `'auto'` for the default LeNet with WebGPU active: by calibration, never on a software adapter. */
function chooseOnWebGpu(simd: boolean, { adapter, calibration }: ChoiceContext): EngineChoice {
  if (!simd) {
    return {
      kind: 'webgpu',
      reason:
        'the fused WebGPU kernels: this WebAssembly engine has no SIMD for the fused WASM kernels',
    };
  }
  if (adapter === undefined || adapter.isFallback) {
    const name = adapter !== undefined ? adapterLabel(adapter) : 'unknown';
    return {
      kind: 'fused',
      kernels: 'lenet',
      reason: `the fused WASM kernels: the WebGPU adapter (${name}) is a software fallback adapter, far slower than WASM for LeNet (fastPath 'webgpu' forces it)`,
    };
  }
  if (calibration === undefined) {
    return {
      kind: 'fused',
      kernels: 'lenet',
      reason: `the fused WASM kernels until a calibration against fused WebGPU on ${adapterLabel(adapter)} has run`,
      needsCalibration: true,
    };
  }
  const { webgpu, wasm, workload } = calibration;
  const gpuWins = webgpu > wasm;
  const [winner, loser] = gpuWins ? ['fused WebGPU', 'fused WASM'] : ['fused WASM', 'fused WebGPU'];
  const [fast, slow] = gpuWins ? [webgpu, wasm] : [wasm, webgpu];
  const what = workload === 'training' ? 'training' : 'single-image inference';
  const unit = workload === 'training' ? 'samples/s' : 'images/s';
  return gpuWins
    ? {
        kind: 'webgpu',
        reason: `${winner}: ${(fast / slow).toFixed(1)}x ${loser} for ${what} in calibration on ${adapterLabel(adapter)} (${round(fast)} vs ${round(slow)} ${unit})`,
      }
    : {
        kind: 'fused',
        kernels: 'lenet',
        reason: `${winner}: ${(fast / slow).toFixed(1)}x ${loser} for ${what} in calibration on ${adapterLabel(adapter)} (${round(fast)} vs ${round(slow)} ${unit})`,
      };
}

function round(rate: number): string {
  return Math.round(rate).toLocaleString('en-US');
}

/**
 * `value` as a {@link FastPathOption}, `undefined` meaning `'auto'`.
 *
 * @throws {@link OptionError} for anything else.
 */
export function checkFastPath(value: unknown): FastPathOption {
  if (value === undefined) return 'auto';
  if (!FAST_PATH_OPTIONS.includes(value as FastPathOption)) {
    throw new OptionError(
      'fastPath',
      `fastPath must be ${FAST_PATH_OPTIONS.map((o) => `"${o}"`).join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as FastPathOption;
}

/** How `spec` differs from the default LeNet, or `undefined` if it is the default LeNet. */
function lenetDifferences(spec: ModelSpec): string | undefined {
  if (spec.kind !== 'lenet') {
    return `an MLP (${[...spec.hidden, 10].join('-')}, ${spec.activation})`;
  }
  const differences: string[] = [];
  if (spec.inputSize !== 32)
    differences.push(`a ${spec.inputSize}x${spec.inputSize} input (not 32x32)`);
  if (spec.pooling !== 'max') differences.push(`${spec.pooling} pooling (not max)`);
  if (spec.activation !== 'relu') differences.push(`${spec.activation} activations (not ReLU)`);
  if (spec.conv2Activation) differences.push('an activation after conv2');
  return differences.length > 0 ? differences.join(', ') : undefined;
}

/**
 * Whether reading each training step's loss back is cheap: two numbers from the fused WASM
 * module's memory, where tfjs ops and the GPU make every read wait for the backend. The CLI then
 * reads every step (for its progress bar and plot) instead of every n-th.
 */
export function stepReadsAreCheap(spec: ModelSpec, backend: string, fastPath: FastPathOption) {
  return chooseEngine(spec, backend, fastPath).kind === 'fused';
}
