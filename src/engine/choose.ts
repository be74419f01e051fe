import { detectEnvironment } from '../backend/env.js';
import { type AdapterSummary, adapterLabel } from '../backend/webgpu.js';
import { OptionError } from '../errors.js';
import type { ModelSpec } from '../model/types.js';
import { type EngineKind, FAST_PATH_OPTIONS, type FastPathOption } from './types.js';
import type { Calibration } from './webgpu/calibrate.js';

/** Which engine computes a model, and why: the one place this is decided. */
export interface EngineChoice {
  readonly kind: EngineKind;
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
 * The fused kernels cover exactly the reference's training network (32x32 input, max pooling,
 * ReLU, no activation after conv2); every other model takes tfjs ops. For the default LeNet,
 * `'auto'` takes the fused WASM kernels on the WASM backend (they need WebAssembly SIMD), and on
 * WebGPU whichever fused engine was faster in calibration, or fused WASM on a software adapter.
 * The reason names what decided.
 *
 * @throws {@link OptionError} when `fastPath` forces fused kernels that cannot run here (another
 *   model, no WASM SIMD for `'wasm'`, no active WebGPU backend for `'webgpu'`).
 */
export function chooseEngine(
  spec: ModelSpec,
  backend: string,
  fastPath: FastPathOption,
  context: ChoiceContext = {},
): EngineChoice {
  if (fastPath === 'off') return { kind: 'tfjs', reason: "fastPath 'off' asks for tfjs ops" };
  const mismatch = fusedMismatch(spec);
  const simd = detectEnvironment().wasm.simd;
  if (fastPath === 'wasm' || fastPath === 'webgpu') {
    const refuse = (why: string) =>
      new OptionError('fastPath', `fastPath '${fastPath}' cannot be honoured: ${why}`);
    if (mismatch !== undefined) {
      throw refuse(`the fused kernels cover the default LeNet only; this model has ${mismatch}`);
    }
    if (fastPath === 'wasm') {
      if (!simd) throw refuse('this WebAssembly engine has no SIMD, which the fused kernels need');
      return { kind: 'fused', reason: "fastPath 'wasm' asks for the fused WASM kernels" };
    }
    if (backend !== 'webgpu') {
      throw refuse(
        `the fused WebGPU kernels need the WebGPU backend active (initBackend({ backend: 'webgpu' })); the active backend is ${backend}`,
      );
    }
    return { kind: 'webgpu', reason: "fastPath 'webgpu' asks for the fused WebGPU kernels" };
  }
  if (mismatch !== undefined) {
    return {
      kind: 'tfjs',
      reason: `the fused kernels cover the default LeNet only; this model has ${mismatch}`,
    };
  }
  if (backend === 'webgpu') return chooseOnWebGpu(simd, context);
  if (backend !== 'wasm') {
    return {
      kind: 'tfjs',
      reason: `the fused kernels run on the WASM backend; the active backend is ${backend}`,
    };
  }
  if (!simd) {
    return {
      kind: 'tfjs',
      reason: 'this WebAssembly engine has no SIMD, which the fused kernels need',
    };
  }
  return { kind: 'fused', reason: 'the default LeNet on the WASM backend with SIMD' };
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
      reason: `the fused WASM kernels: the WebGPU adapter (${name}) is a software fallback adapter, far slower than WASM for LeNet (fastPath 'webgpu' forces it)`,
    };
  }
  if (calibration === undefined) {
    return {
      kind: 'fused',
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
  return {
    kind: gpuWins ? 'webgpu' : 'fused',
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

/** What keeps the fused kernels from computing `spec`, or `undefined` if nothing does. */
function fusedMismatch(spec: ModelSpec): string | undefined {
  if (spec.kind !== 'lenet') return `another architecture (${spec.kind})`;
  const differences: string[] = [];
  if (spec.inputSize !== 32)
    differences.push(`a ${spec.inputSize}x${spec.inputSize} input (not 32x32)`);
  if (spec.pooling !== 'max') differences.push(`${spec.pooling} pooling (not max)`);
  if (spec.activation !== 'relu') differences.push(`${spec.activation} activations (not ReLU)`);
  if (spec.conv2Activation) differences.push('an activation after conv2');
  return differences.length > 0 ? differences.join(', ') : undefined;
}
