import { detectEnvironment } from '../backend/env.js';
import type { ModelSpec } from '../model/types.js';
import type { EngineKind, FastPathOption } from './types.js';

/** Which engine computes a model, and why: the one place this is decided. */
export interface EngineChoice {
  readonly kind: EngineKind;
  readonly reason: string;
}

/**
 * The fused kernels cover exactly the reference's training network (32x32 input, max pooling,
 * ReLU, no activation after conv2) on the WASM backend of an engine with WebAssembly SIMD;
 * every other model, backend or runtime takes tfjs ops. The reason names what decided.
 */
export function chooseEngine(
  spec: ModelSpec,
  backend: string,
  fastPath: FastPathOption,
): EngineChoice {
  if (fastPath === 'off') return { kind: 'tfjs', reason: "fastPath 'off' asks for tfjs ops" };
  const mismatch = fusedMismatch(spec);
  if (mismatch !== undefined) {
    return {
      kind: 'tfjs',
      reason: `the fused kernels cover the default LeNet only; this model has ${mismatch}`,
    };
  }
  if (backend !== 'wasm') {
    return {
      kind: 'tfjs',
      reason: `the fused kernels run on the WASM backend; the active backend is ${backend}`,
    };
  }
  if (!detectEnvironment().wasm.simd) {
    return {
      kind: 'tfjs',
      reason: 'this WebAssembly engine has no SIMD, which the fused kernels need',
    };
  }
  return { kind: 'fused', reason: 'the default LeNet on the WASM backend with SIMD' };
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
