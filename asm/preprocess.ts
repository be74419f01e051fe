// Inference preprocessing inside the kernels' module: raw 8-bit digits (white on black, side
// 28 or 32) become the normalised 32x32 float input of `forward`, without a round trip through
// JavaScript. Imported by lenet.ts, which owns the buffers and exports the entry points.
//
// The resize is Pillow's 8-bit bilinear (ImagingResampleInner for one band): a horizontal pass
// into `tmp`, then a vertical pass, each computing (2^21 + sum(pixel x weight)) >> 22 clipped to
// 0..255. The coefficients are not computed here: src/data/preprocess.ts computes them exactly
// as Pillow does (double arithmetic), and the caller writes them with the normalisation table
// into the tables area below, so both implementations share one source of truth.

const PRECISION_BITS: i32 = 22;
const HALF: i32 = 1 << (PRECISION_BITS - 1);
/** Output side: the kernels' input is 32x32. */
const OUT: i32 = 32;
/** Largest source side and number of filter taps the tables hold (28 -> 32 needs 2 taps). */
const MAX_SRC: i32 = 32;
const MAX_TAPS: i32 = 4;

// Tables area (bytes), written by the caller:
//   NORM     f32[256]   pixel value -> normalised float (the library's normalisation table)
//   H_START  i32[32]    first source column of each output column
//   H_WEIGHT i32[32][4] fixed-point weights (taps per column: H_TAPS)
//   V_START  i32[32]    first source row of each output row
//   V_WEIGHT i32[32][4]
//   H_TAPS, V_TAPS i32
const NORM: usize = 0;
const H_START: usize = NORM + 256 * 4;
const H_WEIGHT: usize = H_START + 32 * 4;
const V_START: usize = H_WEIGHT + 32 * 4 * 4;
const V_WEIGHT: usize = V_START + 32 * 4;
const H_TAPS: usize = V_WEIGHT + 32 * 4 * 4;
const V_TAPS: usize = H_TAPS + 4;
const TABLE_BYTES: usize = V_TAPS + 4;

const tables: usize = memory.data(<i32>TABLE_BYTES, 16);
// The horizontally resized rows of one image: [MAX_SRC rows][32] bytes.
const tmp: usize = memory.data(MAX_SRC * OUT, 16);
// horizontalTwoTaps' shuffles and weights (buildShuffles): per 16-column group, 64 bytes of
// indices and 128 bytes of weights.
const shuffles: usize = memory.data(2 * 64, 16);
const hWeights: usize = memory.data(2 * 128, 16);

/** Where the caller writes the tables (layout above). */
export function preprocessTablesPtr(): usize {
  return tables;
}

function clip8(ss: i32): i32 {
  return min<i32>(max<i32>(ss >> PRECISION_BITS, 0), 255);
}

/** One source image of `side` x `side` bytes at `src` -> 32x32 normalised floats at `dst`. */
function resizeOne(src: usize, side: i32, dst: usize): void {
  const hTaps = load<i32>(tables + H_TAPS);
  const vTaps = load<i32>(tables + V_TAPS);
  // Horizontal pass: every source row (Pillow computes only the rows the vertical pass reads,
  // whose values are the same).
  if (hTaps === 2) {
    horizontalTwoTaps(src, side);
  } else {
    horizontalAnyTaps(src, side, hTaps);
  }
  verticalPass(dst, vTaps);
}

/**
 * The horizontal pass of upsampling (two taps), 16 output columns at a time: the taps are
 * gathered from the row with byte shuffles (tables built by buildShuffles), multiplied in
 * 32-bit lanes and narrowed with saturation, which clips to 0..255 as clip8 does.
 */
function horizontalTwoTaps(src: usize, side: i32): void {
  const half = i32x4.splat(HALF);
  for (let y: i32 = 0; y < side; y++) {
    const row = src + <usize>(y * side);
    // 32 bytes from the row start; bytes past a 28-byte row are never selected.
    const lo = v128.load(row);
    const hi = v128.load(row, 16);
    for (let g: usize = 0; g < 2; g++) {
      const sh = shuffles + g * 64;
      const a = v128.or(i8x16.swizzle(lo, v128.load(sh)), i8x16.swizzle(hi, v128.load(sh, 16)));
      const b = v128.or(i8x16.swizzle(lo, v128.load(sh, 32)), i8x16.swizzle(hi, v128.load(sh, 48)));
      const a16lo = i16x8.extend_low_i8x16_u(a);
      const a16hi = i16x8.extend_high_i8x16_u(a);
      const b16lo = i16x8.extend_low_i8x16_u(b);
      const b16hi = i16x8.extend_high_i8x16_u(b);
      const w = hWeights + g * 128; // [tap a: 16 i32][tap b: 16 i32]
      const r0 = tapSum(i32x4.extend_low_i16x8_u(a16lo), i32x4.extend_low_i16x8_u(b16lo), w, half);
      const r1 = tapSum(
        i32x4.extend_high_i16x8_u(a16lo),
        i32x4.extend_high_i16x8_u(b16lo),
        w + 16,
        half,
      );
      const r2 = tapSum(
        i32x4.extend_low_i16x8_u(a16hi),
        i32x4.extend_low_i16x8_u(b16hi),
        w + 32,
        half,
      );
      const r3 = tapSum(
        i32x4.extend_high_i16x8_u(a16hi),
        i32x4.extend_high_i16x8_u(b16hi),
        w + 48,
        half,
      );
      v128.store(
        tmp + <usize>(y * OUT) + g * 16,
        i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(r0, r1), i16x8.narrow_i32x4_s(r2, r3)),
      );
    }
  }
}

/** (HALF + a * wa + b * wb) >> 22 for four columns; wa at `w`, wb 64 bytes further. */
function tapSum(a: v128, b: v128, w: usize, half: v128): v128 {
  const ss = i32x4.add(half, i32x4.add(i32x4.mul(a, v128.load(w)), i32x4.mul(b, v128.load(w, 64))));
  return i32x4.shr_s(ss, PRECISION_BITS);
}

/**
 * Gathers the two-tap horizontal coefficients into the shapes horizontalTwoTaps reads: per
 * group of 16 columns, byte indices of tap a and tap b into the row's first and second 16 bytes
 * (out-of-range indices select 0), and the weights of each tap as 16 consecutive i32.
 */
function buildShuffles(): void {
  for (let xx: i32 = 0; xx < OUT; xx++) {
    const g = <usize>(xx >> 4);
    const lane = <usize>(xx & 15);
    const start = load<i32>(tables + H_START + <usize>(xx << 2));
    const sh = shuffles + g * 64;
    for (let t: i32 = 0; t < 2; t++) {
      const at = start + t;
      // swizzle yields 0 for indices >= 16: select from lo or from hi, never both.
      store<u8>(sh + <usize>(t * 32) + lane, at < 16 ? at : 255);
      store<u8>(sh + <usize>(t * 32 + 16) + lane, at >= 16 ? at - 16 : 255);
      const w = load<i32>(tables + H_WEIGHT + <usize>((xx * MAX_TAPS + t) << 2));
      store<i32>(hWeights + g * 128 + <usize>(t * 64) + (lane << 2), w);
    }
  }
}

function horizontalAnyTaps(src: usize, side: i32, hTaps: i32): void {
  for (let y: i32 = 0; y < side; y++) {
    const row = src + <usize>(y * side);
    const out = tmp + <usize>(y * OUT);
    for (let xx: i32 = 0; xx < OUT; xx++) {
      const p = row + <usize>load<i32>(tables + H_START + <usize>(xx << 2));
      const w = tables + H_WEIGHT + <usize>(xx * MAX_TAPS * 4);
      let ss = HALF;
      for (let t: i32 = 0; t < hTaps; t++) {
        ss += <i32>load<u8>(p + <usize>t) * load<i32>(w + <usize>(t << 2));
      }
      store<u8>(out + <usize>xx, clip8(ss));
    }
  }
}

/** The vertical pass over `tmp` into `dst`, normalising through the table as it stores. */
function verticalPass(dst: usize, vTaps: i32): void {
  for (let yy: i32 = 0; yy < OUT; yy++) {
    const first = tmp + <usize>(load<i32>(tables + V_START + <usize>(yy << 2)) * OUT);
    const w = tables + V_WEIGHT + <usize>(yy * MAX_TAPS * 4);
    const out = dst + <usize>(yy * OUT * 4);
    if (vTaps === 2) {
      // Four pixels at a time: both weights stay in vector registers.
      const w0 = i32x4.splat(load<i32>(w));
      const w1 = i32x4.splat(load<i32>(w, 4));
      for (let xx: i32 = 0; xx < OUT; xx += 4) {
        const a = i32x4.extend_low_i16x8_u(
          i16x8.extend_low_i8x16_u(v128.load32_zero(first + <usize>xx)),
        );
        const b = i32x4.extend_low_i16x8_u(
          i16x8.extend_low_i8x16_u(v128.load32_zero(first + <usize>(xx + OUT))),
        );
        let ss = i32x4.add(i32x4.splat(HALF), i32x4.add(i32x4.mul(a, w0), i32x4.mul(b, w1)));
        ss = i32x4.shr_s(ss, PRECISION_BITS);
        ss = i32x4.max_s(i32x4.min_s(ss, i32x4.splat(255)), i32x4.splat(0));
        const o = out + <usize>(xx << 2);
        store<f32>(o, load<f32>(tables + NORM + ((<usize>i32x4.extract_lane(ss, 0)) << 2)));
        store<f32>(o, load<f32>(tables + NORM + ((<usize>i32x4.extract_lane(ss, 1)) << 2)), 4);
        store<f32>(o, load<f32>(tables + NORM + ((<usize>i32x4.extract_lane(ss, 2)) << 2)), 8);
        store<f32>(o, load<f32>(tables + NORM + ((<usize>i32x4.extract_lane(ss, 3)) << 2)), 12);
      }
    } else {
      for (let xx: i32 = 0; xx < OUT; xx++) {
        let ss = HALF;
        for (let t: i32 = 0; t < vTaps; t++) {
          ss += <i32>load<u8>(first + <usize>(t * OUT + xx)) * load<i32>(w + <usize>(t << 2));
        }
        store<f32>(out + <usize>(xx << 2), load<f32>(tables + NORM + ((<usize>clip8(ss)) << 2)));
      }
    }
  }
}

/** One 32x32 image: normalisation only. */
function normalizeOne(src: usize, dst: usize): void {
  for (let i: usize = 0; i < <usize>(OUT * OUT); i++) {
    store<f32>(dst + (i << 2), load<f32>(tables + NORM + ((<usize>load<u8>(src + i)) << 2)));
  }
}

/**
 * `n` images of `side` x `side` bytes, consecutive at `src`, into `n` normalised 32x32 float
 * images at `dst`: side 32 is normalised as is, side 28 (or any side up to 32) is resized with
 * the tables' coefficients first. Returns false, doing nothing, for a side the tables cannot
 * hold or taps beyond their room.
 */
export function preprocessImages(src: usize, dst: usize, n: i32, side: i32): bool {
  const hTaps = load<i32>(tables + H_TAPS);
  const vTaps = load<i32>(tables + V_TAPS);
  if (side < 1 || side > MAX_SRC) return false;
  if (side !== OUT && (hTaps < 1 || hTaps > MAX_TAPS || vTaps < 1 || vTaps > MAX_TAPS)) {
    return false;
  }
  if (side !== OUT && hTaps === 2) buildShuffles();
  const inBytes = <usize>(side * side);
  const outBytes = <usize>(OUT * OUT * 4);
  for (let i: usize = 0; i < <usize>n; i++) {
    if (side === OUT) normalizeOne(src + i * inBytes, dst + i * outBytes);
    else resizeOne(src + i * inBytes, side, dst + i * outBytes);
  }
  return true;
}
