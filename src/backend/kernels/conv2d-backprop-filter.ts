import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropFilterInputs,
  getKernel,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

/**
 * `Conv2DBackpropFilter` for tfjs-backend-wasm, which ships without it (tfjs 4.22), so no conv net
 * can train there. The filter gradient
 *
 *   dW[kh, kw, ci, co] = sum over n, oh, ow of x[n, oh*s + kh - pad, ow*s + kw - pad, ci] * dy[n, oh, ow, co]
 *
 * is itself a convolution once batch and channels swap roles: convolve x viewed as
 * [ci, H, W, n] with dy viewed as an [OH, OW, n, co] filter at dilation = stride. That runs on the
 * backend's own XNNPACK conv2d, so it is as fast as the forward pass; only three cheap transposes
 * surround it, and every intermediate is freed before returning.
 */
function conv2DBackpropFilter(args: {
  inputs: Conv2DBackpropFilterInputs;
  backend: KernelBackend;
  attrs: Conv2DBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  if (backend_util.convertConv2DDataFormat(dataFormat) !== 'channelsLast') {
    throw new Error(
      `Conv2DBackpropFilter on wasm supports only NHWC, got dataFormat '${dataFormat}'`,
    );
  }
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const run = (
    name: string,
    kernelInputs: Record<string, TensorInfo>,
    kernelAttrs: NamedAttrMap,
  ) => {
    const kernel = getKernel(name, 'wasm');
    if (kernel === undefined) throw new Error(`wasm kernel '${name}' is not registered`);
    const call = kernel.kernelFunc as KernelFunc;
    return call({ inputs: kernelInputs, backend, attrs: kernelAttrs }) as TensorInfo;
  };

  const temps: TensorInfo[] = [];
  try {
    const xT = run('Transpose', { x }, { perm: [3, 1, 2, 0] }); // [ci, H, W, n]
    temps.push(xT);
    const dyT = run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] }); // [OH, OW, n, co]
    temps.push(dyT);
    const { top, bottom, left, right } = info.padInfo;
    const conv = run(
      'Conv2D',
      { x: xT, filter: dyT },
      {
        strides: [1, 1],
        pad: [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [info.strideHeight, info.strideWidth],
      },
    ); // [ci, >=KH, >=KW, co]
    temps.push(conv);
    let grad = conv;
    const [, convH, convW] = conv.shape as [number, number, number, number];
    if (convH !== info.filterHeight || convW !== info.filterWidth) {
      // A stride that does not divide the input leaves rows/columns past the filter extent.
      grad = run(
        'Slice',
        { x: conv },
        {
          begin: [0, 0, 0, 0],
          size: [info.inChannels, info.filterHeight, info.filterWidth, info.outChannels],
        },
      );
      temps.push(grad);
    }
    return run('Transpose', { x: grad }, { perm: [1, 2, 0, 3] }); // [KH, KW, ci, co]
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

/** Kernel registration for tfjs-backend-wasm's missing `Conv2DBackpropFilter`. */
export const conv2DBackpropFilterWasmConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
