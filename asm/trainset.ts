// The bound training set inside a kernels' module: the engine writes the prepared 8-bit images,
// their labels and the 256-entry normalisation table into linear memory once per `train` call,
// and each step then sends only its batch's indices; `gatherSet` builds the step's floats and
// labels here, exactly as the CPU gatherer (src/engine/gather.ts) does: one table lookup per
// pixel, so the floats are the same bit for bit. Imported by lenet.ts and net.ts, which own the
// memory layout (the set sits between their fixed memory and their batch buffers).
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
