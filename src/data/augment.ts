/**
 * Seeded, on-the-fly data augmentation for training: small random affine distortions (rotation,
 * scale, shear, translation), as LeCun et al. used for LeNet-5, and optionally a smooth elastic
 * distortion (after Simard et al.). Pure TypeScript over float32 batches, no tfjs, so it runs
 * before the fused WASM step without leaving it.
 *
 * The randomness of each image is a pure function of `(seed, epoch, batch, sample)`: nothing is
 * carried from one batch to the next, so a run resumed at any batch distorts exactly as an
 * uninterrupted one.
 *
 * @module
 */
import { OptionError } from '../errors.js';
import { checkInt, checkNumber, checkOptionKeys, describeValue, optionKeys } from '../options.js';
import { mulberry32 } from './batches.js';

/**
 * What `augmentBatch` (and `train`'s `augment` option) distorts, and how much. Each image
 * draws every parameter uniformly from its range; a range of 0 (the default of each) turns that
 * distortion off.
 *
 * @example
 * ```ts
 * // The 'best' recipe's distortions (DEFAULT_AUGMENT).
 * const augment: AugmentOptions = { rotation: 10, scale: 0.1, shear: 0.15, translate: 2 };
 * await train(model, data, { epochs: 12, augment });
 * ```
 */
export interface AugmentOptions {
  /** Largest rotation in degrees, either way: 0 to 180. */
  rotation?: number;
  /** Largest relative change of size: the factor is drawn from [1 - scale, 1 + scale]; 0 to 0.9. */
  scale?: number;
  /** Largest horizontal shear, as the shift per pixel of height (tan of the shear angle): 0 to 2. */
  shear?: number;
  /**
   * Largest shift in pixels of the (prepared, e.g. 32x32) image, horizontally and vertically:
   * 0 to 10,000.
   */
  translate?: number;
  /**
   * Largest displacement in pixels of a smooth random (elastic) field: random shifts at the
   * nodes of a coarse grid, interpolated bilinearly in between: 0 to 10,000. 0 (default) turns
   * it off.
   */
  elastic?: number;
  /** Nodes of the elastic field's grid per side: an integer from 2 to 64. Default: 4. */
  elasticGrid?: number;
  /** Fraction of the images distorted, 0..1; the others pass through unchanged. Default: 1. */
  probability?: number;
}

/**
 * The distortions of the `'best'` training recipe (and of `augment: true`): up to 10 degrees of
 * rotation, 10% of scale, a shear of 0.15 and 2 pixels of shift on the 32x32 input; no elastic
 * field.
 *
 * @example
 * ```ts
 * await train(model, data, { augment: { ...DEFAULT_AUGMENT, elastic: 1.5 } });
 * ```
 */
export const DEFAULT_AUGMENT: Readonly<AugmentOptions> = Object.freeze({
  rotation: 10,
  scale: 0.1,
  shear: 0.15,
  translate: 2,
});

/**
 * Where in training a batch is: the key of its random distortions.
 *
 * @example
 * ```ts
 * const key: AugmentKey = { seed: 1, epoch: 3, batch: 117 };
 * ```
 */
export interface AugmentKey {
  /** The run's seed (truncated to 32 bits). */
  seed: number;
  /** The epoch, as `train` counts it (1-based). */
  epoch: number;
  /** The batch within the epoch (0-based). */
  batch: number;
}

/**
 * Checks augmentation options (every range finite and in bounds) and fills in the defaults.
 *
 * @throws {@link OptionError} (a `RangeError`) naming the option that is out of range.
 *
 * @example
 * ```ts
 * const checked = checkAugmentOptions({ rotation: 15 }); // { rotation: 15, scale: 0, ... }
 * ```
 */
export function checkAugmentOptions(options: AugmentOptions): Required<AugmentOptions> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptionError(
      'augment',
      `augment must be true, false or an object of options, got ${describeValue(options)}`,
    );
  }
  checkOptionKeys('', options, AUGMENT_KEYS, 'augment.');
  const range = (name: keyof AugmentOptions, fallback: number, max: number) => {
    const value = options[name] ?? fallback;
    checkNumber('', `augment.${name}`, value, { min: 0, max });
    return value;
  };
  const grid = options.elasticGrid ?? 4;
  checkInt('', 'augment.elasticGrid', grid, 2, 64);
  return {
    rotation: range('rotation', 0, 180),
    scale: range('scale', 0, 0.9),
    shear: range('shear', 0, 2),
    translate: range('translate', 0, 1e4),
    elastic: range('elastic', 0, 1e4),
    elasticGrid: grid,
    probability: range('probability', 1, 1),
  };
}

const AUGMENT_KEYS = optionKeys<AugmentOptions>()([
  'rotation',
  'scale',
  'shear',
  'translate',
  'elastic',
  'elasticGrid',
  'probability',
]);

/** murmur3's 32-bit finaliser: a bijection that mixes every input bit into every output bit. */
function fmix32(h: number): number {
  let x = h >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * The seed of one image's distortion: a hash of `(seed, epoch, batch, sample)`, so any image's
 * distortion can be computed without the ones before it.
 *
 * @example
 * ```ts
 * const random = mulberry32(augmentSeed({ seed: 1, epoch: 2, batch: 0 }, 5));
 * ```
 */
export function augmentSeed(key: AugmentKey, sample: number): number {
  let h = fmix32((key.seed >>> 0) ^ 0x5bd1e995);
  h = fmix32(h ^ Math.imul((key.epoch >>> 0) + 1, 0x9e3779b1));
  h = fmix32(h ^ Math.imul((key.batch >>> 0) + 1, 0x85ebca77));
  return fmix32(h ^ Math.imul((sample >>> 0) + 1, 0xc2b2ae3d));
}

/**
 * One image's random distortion, as {@link augmentBatch} draws it: whether the image is kept
 * as is, the inverse affine map that samples it and the generator's state after these draws
 * (where an elastic field's draws continue).
 *
 * @internal
 */
export interface AugmentTransform {
  /** The image passes through unchanged (drawn against `probability`). */
  keep: boolean;
  /**
   * The inverse map, in source pixels per output pixel: stepping one pixel in x moves the source
   * point by `(a, d)`, one in y by `(b, e)`.
   */
  a: number;
  b: number;
  d: number;
  e: number;
  /** The translation in pixels (forward map). */
  tx: number;
  ty: number;
  /** mulberry32's state after the six draws: `mulberry32(state)` continues the sequence. */
  state: number;
}

/** mulberry32's increment: its state after k draws from seed s is `s + k * STEP` (mod 2^32). */
const MULBERRY32_STEP = 0x6d2b79f5;

/**
 * The transform of image `sample` of the batch `key` under checked options `o`: six draws of
 * mulberry32 from `augmentSeed(key, sample)`, made whether or not each is used (so options
 * change values, not the sequence). The one draw of {@link augmentBatch} and of the fused
 * kernels, which distort inside their module from these values (the trigonometry stays in JS:
 * engines' `Math.cos` may differ in the last bit).
 *
 * @internal
 */
export function augmentTransform(
  o: Required<AugmentOptions>,
  key: AugmentKey,
  sample: number,
): AugmentTransform {
  const seed = augmentSeed(key, sample);
  const random = mulberry32(seed);
  const keep = random() >= o.probability;
  const angle = ((2 * random() - 1) * o.rotation * Math.PI) / 180;
  const zoom = 1 + (2 * random() - 1) * o.scale;
  const shear = (2 * random() - 1) * o.shear;
  const tx = (2 * random() - 1) * o.translate;
  const ty = (2 * random() - 1) * o.translate;
  // Forward map: out = c + R(angle) * Shear(shear) * zoom * (in - c) + t. Sample through its
  // inverse: in = c + (1/zoom) * Shear(-shear) * R(-angle) * (out - c - t), where
  // Shear(-k) * R(-a) = [[1, -k], [0, 1]] * [[cos, sin], [-sin, cos]].
  const cos = Math.cos(angle) / zoom;
  const sin = Math.sin(angle) / zoom;
  return {
    keep,
    a: cos + shear * sin,
    b: sin - shear * cos,
    d: -sin,
    e: cos,
    tx,
    ty,
    state: (seed + Math.imul(6, MULBERRY32_STEP)) >>> 0,
  };
}

/**
 * Distorts `n` square images of side `side` (normalised float32, `[n, side, side, 1]`) from
 * `source` into `target`, each with its own random affine map (and elastic field when asked),
 * sampled bilinearly about the image centre; pixels that come from outside the image get
 * `background` (the normalised value of black). Deterministic: the same key, options and images
 * give the same bits.
 *
 * @param source - The images; not modified. Must not overlap `target`.
 * @param target - Where the distorted images go (at least `n * side * side` floats).
 * @param n - Number of images.
 * @param side - Side of each image in pixels (32 for LeNet's prepared input).
 * @param background - The value outside the image (for MNIST normalisation, `(0 - mean) / std`).
 * @param options - The ranges of the distortions (see {@link AugmentOptions}).
 * @param key - Seed, epoch and batch: with the image's index in the batch, its random draw.
 * @throws {@link OptionError} (a `RangeError`) for bad options or arrays too short.
 *
 * @example
 * ```ts
 * const table = normalizationTable(set.mean, set.std);
 * const out = new Float32Array(batch.images.length);
 * augmentBatch(batch.images, out, batch.size, 32, table[0], DEFAULT_AUGMENT, { seed: 1, epoch: 1, batch: 0 });
 * ```
 */
export function augmentBatch(
  source: Float32Array,
  target: Float32Array,
  n: number,
  side: number,
  background: number,
  options: AugmentOptions,
  key: AugmentKey,
): void {
  const o = checkAugmentOptions(options);
  checkInt('augmentBatch', 'side', side, 2);
  const pixels = side * side;
  if (!Number.isInteger(n) || n < 0 || source.length < n * pixels || target.length < n * pixels) {
    throw new OptionError(
      'n',
      `augmentBatch: ${n} images of ${side}x${side} need ${n * pixels} floats; source has ${source.length}, target ${target.length}`,
    );
  }
  const grid = o.elasticGrid;
  const field = o.elastic > 0 ? new Float32Array(2 * grid * grid) : undefined;
  // The source image inside a 1-pixel frame of background: every bilinear tap of a point in
  // [-1, side) lands in it, so the inner loop needs one range test and no per-tap checks.
  const stride = side + 2;
  const framed = new Float32Array(stride * stride).fill(background);
  const c = (side - 1) / 2;
  for (let s = 0; s < n; s++) {
    const src = source.subarray(s * pixels, (s + 1) * pixels);
    const dst = target.subarray(s * pixels, (s + 1) * pixels);
    const { keep, a, b, d, e, tx, ty, state } = augmentTransform(o, key, s);
    if (keep) {
      dst.set(src);
      continue;
    }
    if (field) {
      // The field's draws continue the image's sequence after the transform's six.
      const random = mulberry32(state);
      for (let i = 0; i < field.length; i++) field[i] = (2 * random() - 1) * o.elastic;
    }
    for (let y = 0; y < side; y++) {
      framed.set(src.subarray(y * side, (y + 1) * side), (y + 1) * stride + 1);
    }
    // Coordinates below are shifted by +1 into the framed image.
    const limit = side + 1;
    let out = 0;
    for (let y = 0; y < side; y++) {
      const oy = y - c - ty;
      const ox0 = -c - tx;
      // Source position of pixel (0, y); each step in x adds (a, d).
      let sx = c + 1 + a * ox0 + b * oy;
      let sy = c + 1 + d * ox0 + e * oy;
      for (let x = 0; x < side; x++, sx += a, sy += d, out++) {
        let px = sx;
        let py = sy;
        if (field) {
          // Bilinear interpolation of the coarse displacement grid at this output pixel.
          const gx = (x / (side - 1)) * (grid - 1);
          const gy = (y / (side - 1)) * (grid - 1);
          const ix = Math.min(grid - 2, Math.floor(gx));
          const iy = Math.min(grid - 2, Math.floor(gy));
          const fx = gx - ix;
          const fy = gy - iy;
          const k = 2 * (iy * grid + ix);
          const k2 = k + 2 * grid;
          const w00 = (1 - fx) * (1 - fy);
          const w01 = fx * (1 - fy);
          const w10 = (1 - fx) * fy;
          const w11 = fx * fy;
          px +=
            w00 * (field[k] as number) +
            w01 * (field[k + 2] as number) +
            w10 * (field[k2] as number) +
            w11 * (field[k2 + 2] as number);
          py +=
            w00 * (field[k + 1] as number) +
            w01 * (field[k + 3] as number) +
            w10 * (field[k2 + 1] as number) +
            w11 * (field[k2 + 3] as number);
        }
        // In framed coordinates the image spans [1, side]; taps at [0, side + 1] are framed.
        if (!(px >= 0 && py >= 0 && px < limit && py < limit)) {
          dst[out] = background;
          continue;
        }
        const x0 = px | 0;
        const y0 = py | 0;
        const fx = px - x0;
        const fy = py - y0;
        const i = y0 * stride + x0;
        const p00 = framed[i] as number;
        const p01 = framed[i + 1] as number;
        const p10 = framed[i + stride] as number;
        const p11 = framed[i + stride + 1] as number;
        const top = p00 + (p01 - p00) * fx;
        const bottom = p10 + (p11 - p10) * fx;
        dst[out] = top + (bottom - top) * fy;
      }
    }
  }
}
