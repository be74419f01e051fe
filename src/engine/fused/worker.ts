// The worker side of a data-parallel fused step. Built into a self-contained script by the
// `?worker-source` import in workers.ts (scripts/worker-source.mjs) and started by the platform
// layer, so the worker calls the kernels through the same typed module as the main thread.

import { scoresIn } from '../scores.js';
import { FusedLeNetError, instantiateFusedLeNet, WasmLeNet } from './kernels.js';
import { imageFloatsOf, instantiateFusedNet, type WasmNet } from './net-kernels.js';
import { AUGMENT_PARAMS } from './trainset.js';
import type { WorkerReply, WorkerRequest } from './workers.js';

/**
 * Answers `init` with an instance of the posted compiled module (the default LeNet's kernels or
 * the generic ones configured with the posted layers), each `step` with the share's
 * summed loss, correct count and gradients (written into the parameter buffer it brought), and
 * each `forward` with the share's logits and each `scorePixels` with the share's scores, under
 * the parameters it brought.
 */
export function serveFusedWorker(
  post: (reply: WorkerReply, transfer?: ArrayBuffer[]) => void,
  listen: (handler: (request: WorkerRequest) => void) => void,
): void {
  let net: WasmLeNet | WasmNet | undefined;
  let imageFloats = 0;
  listen(async (request) => {
    try {
      if (request.type === 'init') {
        const { variant, module, kernels } = request;
        net =
          kernels.kind === 'lenet'
            ? await instantiateFusedLeNet(variant, module)
            : await instantiateFusedNet(variant, module, kernels.layers, kernels.inputSize);
        imageFloats = imageFloatsOf(kernels);
        post({ type: 'ready' });
        return;
      }
      if (net === undefined) throw new FusedLeNetError(`${request.type} before init`);
      if (request.type === 'forward' || request.type === 'scorePixels') {
        answerInference(net, imageFloats, request, post);
      } else {
        answerTraining(net, imageFloats, request, post);
      }
    } catch (err) {
      post({ type: 'error', message: String((err as Error)?.message ?? err) });
    }
  });
}

type Net = WasmLeNet | WasmNet;
type Post = (reply: WorkerReply, transfer?: ArrayBuffer[]) => void;
type InferenceRequest = Extract<WorkerRequest, { type: 'forward' | 'scorePixels' }>;
type TrainingRequest = Exclude<WorkerRequest, InferenceRequest | { type: 'init' }>;

/** A share's logits of prepared images (`forward`) or scores of raw digits (`scorePixels`). */
function answerInference(
  net: Net,
  imageFloats: number,
  request: InferenceRequest,
  post: Post,
): void {
  switch (request.type) {
    case 'forward': {
      const { n, params, images } = request;
      if (params) net.setParameterBytes(new Uint8Array(params));
      const logits = net.forward(new Float32Array(images, 0, n * imageFloats), n);
      const transfer = [logits.buffer as ArrayBuffer, images];
      if (params) transfer.push(params);
      post({ type: 'forward', logits: logits.buffer as ArrayBuffer, params, images }, transfer);
      return;
    }
    case 'scorePixels': {
      const { n, side, params, tables, pixels, scores } = request;
      if (!(net instanceof WasmLeNet))
        throw new FusedLeNetError('scorePixels needs the LeNet kernels');
      if (tables && !net.setPixelTables(tables)) {
        throw new FusedLeNetError('The kernels cannot hold these pixel tables.');
      }
      if (params) net.setParameterBytes(new Uint8Array(params));
      net.scorePixels(new Uint8Array(pixels, 0, n * side * side), side, n, scoresIn(scores, n));
      const transfer = [pixels, scores];
      if (params) transfer.push(params);
      post({ type: 'scorePixels', scores, params, pixels }, transfer);
      return;
    }
  }
}

/** The training set held by this instance (`bind`, `unbind`) and a share's gradients. */
function answerTraining(net: Net, imageFloats: number, request: TrainingRequest, post: Post): void {
  switch (request.type) {
    case 'bind': {
      net.bindSet(request.set);
      post({ type: 'ready' });
      return;
    }
    case 'unbind': {
      net.unbindSet();
      post({ type: 'ready' });
      return;
    }
    case 'stepIndexed': {
      const { n, params, indices, distortions } = request;
      net.setParameterBytes(new Uint8Array(params));
      const { loss, correct } = net.gradientStepIndexed(
        new Uint32Array(indices, 0, n),
        distortions && new Float64Array(distortions, 0, n * AUGMENT_PARAMS),
      );
      new Uint8Array(params).set(net.gradientBytes());
      const transfer = distortions ? [params, indices, distortions] : [params, indices];
      post({ type: 'step', loss, correct, grads: params, indices, distortions }, transfer);
      return;
    }
    case 'step': {
      const { n, params, images, labels } = request;
      net.reserve(n); // first: growing memory detaches the views below
      net.parameterBytes().set(new Uint8Array(params));
      const { loss, correct } = net.gradientStep(
        new Float32Array(images, 0, n * imageFloats),
        new Uint8Array(labels, 0, n),
        n,
      );
      new Uint8Array(params).set(net.gradientBytes());
      post({ type: 'step', loss, correct, grads: params, images, labels }, [
        params,
        images,
        labels,
      ]);
      return;
    }
  }
}
