import { normalizationTable, prepareImages } from '../data/preprocess.js';
import type { Preprocessing } from '../model/types.js';
import { type DigitScores, markBlank, scoreLogits } from './scores.js';

/**
 * The CPU half of `Engine.classifyPixels`, for engines that compute on floats: `n` raw 8-bit
 * digits (`side` x `side`, consecutive) resized and normalised exactly as `preprocessing`
 * prescribes (the same code as `prepareImages` and the trainer's batches), into `scratch` when it
 * is large enough. The fused WASM engine does the same inside its module where it can.
 *
 * @throws `OptionError` from `prepareImages` when a `side` x `side` digit cannot feed the model.
 */
export function pixelsToFloats(
  pixels: Uint8Array,
  side: number,
  n: number,
  preprocessing: Preprocessing,
  scratch?: Float32Array,
): Float32Array {
  const { size, resize, mean, std } = preprocessing;
  const bytes = side * side;
  const sized =
    side === size
      ? pixels.subarray(0, n * bytes)
      : prepareImages(
          {
            images: pixels.subarray(0, n * bytes),
            labels: new Uint8Array(n),
            count: n,
            height: side,
            width: side,
          },
          { size, resize, mean, std },
        ).images;
  const floats = size * size * n;
  const out =
    scratch !== undefined && scratch.length >= floats
      ? scratch.subarray(0, floats)
      : new Float32Array(floats);
  const table = normalizationTable(mean, std);
  for (let i = 0; i < floats; i++) out[i] = table[sized[i] as number] as number;
  return out;
}

/**
 * `Engine.classifyPixels` for engines that compute on floats only (tfjs, WebGPU): the digits
 * prepared on the CPU by {@link pixelsToFloats} and their blank flags marked (both before the
 * first await), then `forward`, then the logits scored.
 */
export async function classifyPixelsOnCpu(
  this: { forward(images: Float32Array, n: number): Promise<Float32Array> },
  pixels: Uint8Array,
  side: number,
  n: number,
  preprocessing: Preprocessing,
  out: DigitScores,
): Promise<void> {
  markBlank(pixels, side, n, out.blank);
  scoreLogits(await this.forward(pixelsToFloats(pixels, side, n, preprocessing), n), n, out);
}
