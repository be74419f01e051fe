// The bound training set inside a kernels' module: the engine writes the prepared 8-bit images,
// their labels and the 256-entry normalisation table into linear memory once per `train` call,
// and each step then sends only its batch's indices; `gatherSet` builds the step's floats and
// labels here, exactly as the CPU gatherer (src/engine/gather.ts) does: one table lookup per
// pixel, so the floats are the same bit for bit. With augmentation, `distortSet` then distorts
// them in place as the CPU gatherer's `augmentBatch` does (see the end of this file). Imported
// by lenet.ts and net.ts, which own the memory layout (the set sits between their fixed memory
// and their batch buffers).
//
// Set region (bytes from its base): NORM f32[256], LABELS u8[count] (padded to 64), then
// PIXELS u8[count][imageBytes].

const NORM_BYTES: usize = 256 * 4;

let setBase: usize = 0;
let setCount: usize = 0;
let setImageBytes: usize = 0;
let setLabels: usize = 0;
let setPixels: usize = 0;

function alignUp(p: usize): usize {
  return (p + 63) & ~(<usize>63);
}

/** Bytes a set of `count` images of `imageBytes` needs. */
export function setRegionBytes(count: usize, imageBytes: usize): usize {
  return alignUp(NORM_BYTES + alignUp(count) + count * imageBytes);
}

/** Places a set of `count` images of `imageBytes` at `base` (the caller grew memory). */
export function placeSet(base: usize, count: usize, imageBytes: usize): void {
  setBase = base;
  setCount = count;
  setImageBytes = imageBytes;
  setLabels = base + NORM_BYTES;
  setPixels = setLabels + alignUp(count);
}

/** Forgets the set (its memory is reused by the batch buffers). */
export function clearSet(): void {
  setCount = 0;
}

/** Where the caller writes the table (then the labels at +1024, the pixels at setPixelsAt). */
export function setTableAt(): usize {
  return setBase;
}
export function setLabelsAt(): usize {
  return setLabels;
}
export function setPixelsAt(): usize {
  return setPixels;
}

/**
 * Images `indices[0..n)` (u32) of the set through the table into `dst` (f32 [n][imageBytes]),
 * their labels into `labels`. False, having written part, when an index is past the set or no
 * set is bound.
 */
export function gatherSet(indices: usize, n: i32, dst: usize, labels: usize): bool {
  const count = setCount;
  const bytes = setImageBytes;
  const table = setBase;
  let d = dst;
  for (let i: usize = 0; i < <usize>n; i++) {
    const j = <usize>load<u32>(indices + i * 4);
    if (j >= count) return false;
    store<u8>(labels + i, load<u8>(setLabels + j));
    let s = setPixels + j * bytes;
    const end = s + bytes;
    // Four pixels per round (image sizes are multiples of 4 except odd generic inputs).
    while (s + 4 <= end) {
      const q = load<u32>(s);
      store<f32>(d, load<f32>(table + ((q & 0xff) << 2)));
      store<f32>(d + 4, load<f32>(table + (((q >> 8) & 0xff) << 2)));
      store<f32>(d + 8, load<f32>(table + (((q >> 16) & 0xff) << 2)));
      store<f32>(d + 12, load<f32>(table + ((q >> 24) << 2)));
      s += 4;
      d += 16;
    }
    while (s < end) {
      store<f32>(d, load<f32>(table + ((<usize>load<u8>(s)) << 2)));
      s += 1;
      d += 4;
    }
  }
  return true;
}

// ---- Augmentation inside the module -------------------------------------------------------
//
// The random distortions of src/data/augment.ts (`augmentBatch`), applied in place to a gathered
// batch, bit for bit: the same f64 arithmetic in the same order, stored as f32. The trigonometry
// stays in JS (`augmentTransform`): the caller stages, per image, AUGMENT_PARAMS f64:
//   keep (0 or 1), a, b, d, e, tx, ty, state (mulberry32's state after the transform's draws)
// and this code continues mulberry32 from `state` for the elastic field (integer arithmetic and
// one f64 multiply, as in JS). Background (outside the image) is the table's entry for 0.

/** f64 values staged per image (see above). */
export const AUGMENT_PARAMS: usize = 8;
/** Bytes of the field scratch: 2 floats per node of the largest grid (64 x 64). */
export const AUGMENT_FIELD_BYTES: usize = 2 * 64 * 64 * 4;
const MAX_GRID: i32 = 64;

/** Bytes of the framed-image scratch for images of side `side`. */
export function augmentFramedBytes(side: usize): usize {
  return alignUp((side + 2) * (side + 2) * 4);
}

/**
 * Distorts images `images[0..n)` (f32 [n][side][side], normalised) in place with the per-image
 * `params` (f64 [n][AUGMENT_PARAMS]), as augmentBatch does with `elastic` and a `grid`² field.
 * `framed` (augmentFramedBytes(side)) and `field` (AUGMENT_FIELD_BYTES) are scratch. False,
 * having changed nothing, for a grid outside 2..64, a side below 2 or no bound set.
 */
export function distortSet(
  images: usize,
  n: i32,
  side: i32,
  params: usize,
  elastic: f64,
  grid: i32,
  framed: usize,
  field: usize,
): bool {
  if (setCount === 0 || side < 2 || grid < 2 || grid > MAX_GRID) return false;
  const s = <usize>side;
  const pixels = s * s;
  const stride = s + 2;
  const background = load<f32>(setBase);
  const bg = <f64>background;
  // The image inside a 1-pixel frame of background: only the inside changes per image.
  for (let i: usize = 0; i < stride * stride; i++) store<f32>(framed + i * 4, background);
  const c: f64 = (<f64>side - 1) / 2;
  const limit: f64 = <f64>side + 1;
  const withField = elastic > 0;
  const fieldFloats = <usize>(2 * grid * grid);
  const gridM1 = <f64>(grid - 1);
  const gridM2 = <f64>(grid - 2);
  const sideM1 = <f64>(side - 1);
  for (let k: i32 = 0; k < n; k++) {
    const p = params + <usize>k * AUGMENT_PARAMS * 8;
    if (load<f64>(p) !== 0) continue; // kept as gathered
    const a = load<f64>(p, 8);
    const b = load<f64>(p, 16);
    const d = load<f64>(p, 24);
    const e = load<f64>(p, 32);
    const tx = load<f64>(p, 40);
    const ty = load<f64>(p, 48);
    let state = <u32>load<f64>(p, 56);
    const img = images + <usize>k * pixels * 4;
    if (withField) {
      for (let i: usize = 0; i < fieldFloats; i++) {
        // mulberry32 (src/data/batches.ts), one draw.
        state += 0x6d2b79f5;
        let t: u32 = (state ^ (state >>> 15)) * (1 | state);
        t = (t + (t ^ (t >>> 7)) * (61 | t)) ^ t;
        const r = <f64>(t ^ (t >>> 14)) / 4294967296.0;
        store<f32>(field + i * 4, <f32>((2 * r - 1) * elastic));
      }
    }
    for (let y: usize = 0; y < s; y++) {
      memory.copy(framed + ((y + 1) * stride + 1) * 4, img + y * s * 4, s * 4);
    }
    let out = img;
    for (let y: i32 = 0; y < side; y++) {
      const oy = <f64>y - c - ty;
      const ox0 = -c - tx;
      // Source position of pixel (0, y); each step in x adds (a, d).
      let sx = c + 1 + a * ox0 + b * oy;
      let sy = c + 1 + d * ox0 + e * oy;
      // The field's row terms (augmentBatch computes them per pixel: the same values).
      const gy = (<f64>y / sideM1) * gridM1;
      const iy = min(gridM2, floor(gy));
      const fy = gy - iy;
      for (let x: i32 = 0; x < side; x++) {
        let px = sx;
        let py = sy;
        if (withField) {
          const gx = (<f64>x / sideM1) * gridM1;
          const ix = min(gridM2, floor(gx));
          const fx = gx - ix;
          const f = field + <usize>(2 * (<i32>iy * grid + <i32>ix)) * 4;
          const f2 = f + <usize>(2 * grid) * 4;
          const w00 = (1 - fx) * (1 - fy);
          const w01 = fx * (1 - fy);
          const w10 = (1 - fx) * fy;
          const w11 = fx * fy;
          px +=
            w00 * <f64>load<f32>(f) +
            w01 * <f64>load<f32>(f, 8) +
            w10 * <f64>load<f32>(f2) +
            w11 * <f64>load<f32>(f2, 8);
          py +=
            w00 * <f64>load<f32>(f, 4) +
            w01 * <f64>load<f32>(f, 12) +
            w10 * <f64>load<f32>(f2, 4) +
            w11 * <f64>load<f32>(f2, 12);
        }
        if (!(px >= 0 && py >= 0 && px < limit && py < limit)) {
          store<f32>(out, <f32>bg);
        } else {
          const x0 = <i32>px;
          const y0 = <i32>py;
          const fx = px - <f64>x0;
          const fy2 = py - <f64>y0;
          const q = framed + <usize>(y0 * <i32>stride + x0) * 4;
          const p00 = <f64>load<f32>(q);
          const p01 = <f64>load<f32>(q, 4);
          const p10 = <f64>load<f32>(q + stride * 4);
          const p11 = <f64>load<f32>(q + stride * 4, 4);
          const top = p00 + (p01 - p00) * fx;
          const bottom = p10 + (p11 - p10) * fx;
          store<f32>(out, <f32>(top + (bottom - top) * fy2));
        }
        out += 4;
        sx += a;
        sy += d;
      }
    }
  }
  return true;
}
