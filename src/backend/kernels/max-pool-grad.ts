import {
  backend_util,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type MaxPoolGradAttrs,
  type MaxPoolGradInputs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

/** The two methods of tfjs-backend-wasm's backend this kernel needs. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
}

/**
 * `MaxPoolGrad` for tfjs-backend-wasm, replacing the one it ships (tfjs 4.22), which drops the
 * gradient of every pooling window whose values are all negative: LeNet's conv2 has no activation
 * before its pool, so WASM training got conv1/conv2 gradients off by up to ~50% of their size
 * (found by comparing with the cpu and webgpu backends, which agree to 1e-8).
 *
 * Same semantics as tfjs' cpu backend: each output routes its gradient to the first strictly
 * largest input of its window in row-major order, padding excluded, sums where windows overlap.
 * A plain loop over the wasm heap: one pass over the output windows, cheap next to the
 * convolutions around it (LeNet, batch 64: about 75k windows per pool).
 */
function maxPoolGrad(args: {
  inputs: MaxPoolGradInputs;
  backend: KernelBackend;
  attrs: MaxPoolGradAttrs;
}): TensorInfo {
  const { inputs, attrs } = args;
  const backend = args.backend as unknown as WasmHeapBackend;
  const dy = inputs.dy as TensorInfo;
  const input = inputs.input as TensorInfo;
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`MaxPoolGrad on wasm supports float32 only, got ${input.dtype}`);
  }
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  // Allocate first: growing the wasm memory detaches views taken earlier.
  const out = backend.makeOutput(input.shape, 'float32');
  const x = backend.typedArrayFromHeap(input);
  const g = backend.typedArrayFromHeap(dy);
  const dx = backend.typedArrayFromHeap(out);
  dx.fill(0);

  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const rowStride = inWidth * channels;
  const imageStride = inHeight * rowStride;
  let o = 0; // index into dy, NHWC order
  for (let b = 0; b < batchSize; b++) {
    const base = b * imageStride;
    for (let yr = 0; yr < outHeight; yr++) {
      const r0 = yr * strideHeight - top;
      const rStart = Math.max(0, r0);
      const rEnd = Math.min(inHeight, r0 + filterHeight);
      for (let yc = 0; yc < outWidth; yc++) {
        const c0 = yc * strideWidth - left;
        const cStart = Math.max(0, c0);
        const cEnd = Math.min(inWidth, c0 + filterWidth);
        for (let d = 0; d < channels; d++, o++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let r = rStart; r < rEnd; r++) {
            let i = base + r * rowStride + cStart * channels + d;
            for (let c = cStart; c < cEnd; c++, i += channels) {
              const v = x[i] as number;
              if (v > best) {
                best = v;
                at = i;
              }
            }
          }
          if (at >= 0) dx[at] = (dx[at] as number) + (g[o] as number);
        }
      }
    }
  }
  return out;
}

/** Kernel registration replacing tfjs-backend-wasm's `MaxPoolGrad`. */
export const maxPoolGradWasmConfig: KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
