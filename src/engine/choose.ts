import { detectEnvironment } from '../backend/env.js';
import { buildLayers } from '../model/layers.js';
import type { ModelSpec } from '../model/types.js';
import { netMismatch } from './fused/net-kernels.js';
import type { EngineKind, FastPathOption } from './types.js';

/** Which engine computes a model, and why: the one place this is decided. */
export interface EngineChoice {
  readonly kind: EngineKind;
  /** For the fused engine: the hand-tuned default LeNet kernels or the generic ones. */
  readonly kernels?: 'lenet' | 'generic';
  readonly reason: string;
}

/**
 * On the WASM backend of an engine with WebAssembly SIMD, the reference's training network
 * (32x32 input, max pooling, ReLU, no activation after conv2) takes the hand-tuned fused
 * kernels and every other model the factories build takes the generic fused kernels, unless it
 * is too large for them; every other backend or runtime takes tfjs ops. The reason names what
 * decided.
 */
export function chooseEngine(
  spec: ModelSpec,
  backend: string,
  fastPath: FastPathOption,
): EngineChoice {
  if (fastPath === 'off') return { kind: 'tfjs', reason: "fastPath 'off' asks for tfjs ops" };
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
  const differences = lenetDifferences(spec);
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
  return {
    kind: 'fused',
    kernels: 'generic',
    reason: `generic fused kernels on the WASM backend with SIMD: ${differences}`,
  };
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
