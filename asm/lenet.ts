// Fused LeNet-5 for WebAssembly SIMD: one call runs a whole training step (forward, backward,
// Adam) or a whole forward pass over a batch. Built twice by scripts/build-wasm.mjs: plain SIMD
// (f32x4 mul + add) and relaxed SIMD (f32x4.relaxed_madd). src/engine/fused/kernels.ts is
// the only caller; it owns the ABI below.
//
// ABI: call reserve(capacity) first and again before any call with more samples. It lays out the
// batch buffers and grows memory, which detaches JS views of it. Then write parameters in tfjs
// layouts to stagingPtr() and call loadParams(); write images to inputPtr() and labels to
// labelsPtr(); call trainStep() or forward(). storeParams(which) copies parameters (0), the last
// gradients (1) or Adam's moments (2, 3) back to the staging area; loadParams(which) the other way.
// With a bound training set (bindSet), write a step's indices to indicesPtr() and call
// gatherBatch() instead of writing images; for augmentation, then write each image's distortion
// to augmentParamsPtr() and call distortBatch() (asm/trainset.ts). To classify raw digits, write
// them to pixelsPtr(), call preparePixels(), forward() and scorePixels(): the probabilities
// replace the logits at logitsPtr(), the labels and blank flags go to scoresPtr() (asm/scores.ts).
//
// Layouts. Parameters are kept in padded copies of the tfjs layouts so every row is whole
// vectors: conv1 [25 taps][8 out] (6 used), fc3 [84][12] (10 used). The padding is zero and its
// gradient is zero, so Adam leaves it at zero. Activations are NHWC. Max-pooling records, per
// output element, the address of the input window that won, so the backward pass scatters each
// pooled gradient straight to one window and never materialises the 75%-zero conv gradients.
//
// All addresses are byte addresses in linear memory; sizes below are bytes unless named floats.

import { preprocessImages } from './preprocess';
import { scoreDigits } from './scores';
import {
  AUGMENT_FIELD_BYTES,
  AUGMENT_PARAMS,
  augmentFramedBytes,
  clearSet,
  distortSet,
  gatherSet,
  placeSet,
  setLabelsAt,
  setPixelsAt,
  setRegionBytes,
  setTableAt,
} from './trainset';

export { preprocessTablesPtr } from './preprocess';

// ---- Shapes ------------------------------------------------------------------------------

const IMG: usize = 32 * 32 * 4; // input image [32,32,1]
const P1: usize = 14 * 14 * 6 * 4; // pool1 output [14,14,6]
const P1_ROW: usize = 14 * 6 * 4; // one row of it
const IDX1: usize = 14 * 14 * 8 * 4; // pool1 argmax addresses, 8 lanes per window (6 used)
const P2: usize = 400 * 4; // pool2 output [5,5,16] = fc1 input
const H1: usize = 120 * 4;
const H2: usize = 84 * 4;
const Z: usize = 12 * 4; // logits padded to 3 vectors
const LOGITS: usize = 10 * 4;

// ---- Parameters: internal layout ---------------------------------------------------------

const C1W: usize = 0; // [25][8]
const C1B: usize = C1W + 200 * 4; // [8]
const C2W: usize = C1B + 8 * 4; // [150][16], k = (kh*5+kw)*6+ci (HWIO as is)
const C2B: usize = C2W + 2400 * 4;
const F1W: usize = C2B + 16 * 4; // [400][120]
const F1B: usize = F1W + 48000 * 4;
const F2W: usize = F1B + 120 * 4; // [120][84]
const F2B: usize = F2W + 10080 * 4;
const F3W: usize = F2B + 84 * 4; // [84][12]
const F3B: usize = F3W + 1008 * 4;
const PARAMS: usize = F3B + 12 * 4;

// ---- Parameters: tfjs layout in the staging area -----------------------------------------

const S_C1W: usize = 0;
const S_C1B: usize = S_C1W + 150 * 4;
const S_C2W: usize = S_C1B + 6 * 4;
const S_C2B: usize = S_C2W + 2400 * 4;
const S_F1W: usize = S_C2B + 16 * 4;
const S_F1B: usize = S_F1W + 48000 * 4;
const S_F2W: usize = S_F1B + 120 * 4;
const S_F2B: usize = S_F2W + 10080 * 4;
const S_F3W: usize = S_F2B + 84 * 4;
const S_F3B: usize = S_F3W + 840 * 4;
const STAGING: usize = S_F3B + 10 * 4;

// ---- Fixed memory ------------------------------------------------------------------------

// conv1 weights rearranged for conv1Forward: [25 taps][w0..w3, w4, w4, w5, w5].
const W1K_BYTES: usize = 25 * 8 * 4;
// conv2 weights per output channel, [16][5 kh][32] (30 used), for the input-gradient scatter;
// and the conv weight-gradient accumulators in the same transposed shapes.
const W2T_BYTES: usize = 16 * 5 * 32 * 4;
const DW1T_BYTES: usize = 6 * 5 * 8 * 4; // [6 co][5 kh][8 kw] (5 used)
// The conv2 input-gradient scatter writes 30-float rows at pixel offsets that are 16-byte
// aligned for even columns and 8 mod 16 for odd ones. Odd columns go to a second buffer
// shifted by 8 bytes, so every read-modify-write is aligned and overlaps others only exactly
// (partial overlaps defeat store-to-load forwarding). The rows spill 2 floats past the image.
const DP1_SCRATCH: usize = 4736;

function alignUp(p: usize): usize {
  return (p + 63) & ~(<usize>63);
}

const paramsPtr: usize = alignUp(__heap_base);
const gradsPtr: usize = paramsPtr + PARAMS;
const adamM: usize = gradsPtr + PARAMS;
const adamV: usize = adamM + PARAMS;
const stagingBase: usize = adamV + PARAMS;
const w1k: usize = alignUp(stagingBase + STAGING);
const w2t: usize = w1k + W1K_BYTES;
const dw2t: usize = w2t + W2T_BYTES;
const dw1t: usize = dw2t + W2T_BYTES;
const dp1Even: usize = dw1t + DW1T_BYTES;
const dp1Odd: usize = dp1Even + DP1_SCRATCH;
// Gradients received from another instance in a data-parallel step (mixGradients).
const peerGrads: usize = alignUp(dp1Odd + DP1_SCRATCH);
const batchBase: usize = alignUp(peerGrads + PARAMS);

// ---- Batch memory (laid out by reserve) --------------------------------------------------

let capacity: i32 = 0;
let xBuf: usize = 0; // [n][32][32]
let labelBuf: usize = 0; // [n] u8
let p1Buf: usize = 0; // [n][14][14][6]
let idx1Buf: usize = 0; // [n][196][8] u32 addresses into xBuf
let p2Buf: usize = 0; // [n][400]
let idx2Buf: usize = 0; // [n][400] u32 addresses into p1Buf
let h1Buf: usize = 0; // [n][120]
let h2Buf: usize = 0; // [n][84]
let zBuf: usize = 0; // [n][12]
let dzBuf: usize = 0; // [n][12]
let dh2Buf: usize = 0; // [n][84]
let dh1Buf: usize = 0; // [n][120]
let dp2Buf: usize = 0; // [n][400]
let dp1Buf: usize = 0; // [n][1176], ReLU-masked gradient of pool1's output
let logitBuf: usize = 0; // [n][10]
let pixelBuf: usize = 0; // [n][32][32] u8, raw digits for preparePixels (side 28 uses less)
let scoreBuf: usize = 0; // [n] u8 labels, then [n] u8 blank flags (scorePixels)
let indexBuf: usize = 0; // [n] u32, a step's indices into the bound set
let augmentBuf: usize = 0; // [n][AUGMENT_PARAMS] f64, a step's distortions (asm/trainset.ts)
let framedBuf: usize = 0; // scratch of distortBatch: one image in a 1-pixel frame
let fieldBuf: usize = 0; // scratch of distortBatch: the elastic field
// Where the batch buffers start: batchBase, or past the bound training set (bindSet).
let batchStart: usize = batchBase;
let lastCorrect: i32 = 0;

// Buffers read a few floats past their end (see conv1Backward, conv2Backward): pad them.
const PAD: usize = 64;

/** Lays out buffers for `cap` samples and grows memory to fit; returns false if it cannot. */
export function reserve(cap: i32): bool {
  if (cap <= capacity) return true;
  const c = <usize>cap;
  let p = batchStart;
  xBuf = p;
  p = alignUp(p + c * IMG + PAD);
  labelBuf = p;
  p = alignUp(p + c);
  p1Buf = p;
  p = alignUp(p + c * P1 + PAD);
  idx1Buf = p;
  p += c * IDX1;
  p2Buf = p;
  p += c * P2;
  idx2Buf = p;
  p += c * P2;
  h1Buf = p;
  p += c * H1;
  h2Buf = p;
  p = alignUp(p + c * H2);
  zBuf = p;
  p += c * Z;
  dzBuf = p;
  p += c * Z;
  dh2Buf = p;
  p = alignUp(p + c * H2);
  dh1Buf = p;
  p += c * H1;
  dp2Buf = p;
  p += c * P2;
  dp1Buf = p;
  p = alignUp(p + c * P1);
  logitBuf = p;
  p = alignUp(p + c * LOGITS);
  pixelBuf = p;
  p = alignUp(p + c * 32 * 32);
  scoreBuf = p;
  p = alignUp(p + 2 * c);
  indexBuf = p;
  p = alignUp(p + c * 4);
  augmentBuf = p;
  p = alignUp(p + c * AUGMENT_PARAMS * 8);
  framedBuf = p;
  p += augmentFramedBytes(32);
  fieldBuf = p;
  p = alignUp(p + AUGMENT_FIELD_BYTES);
  const have = (<usize>memory.size()) << 16;
  if (p > have && memory.grow(<i32>((p - have + 0xffff) >> 16)) < 0) return false;
  capacity = cap;
  // The over-read padding may hold bytes of an older layout; random bits can be subnormal
  // floats, which are very slow to multiply, so clear them.
  memory.fill(xBuf + c * IMG, 0, PAD);
  memory.fill(p1Buf + c * P1, 0, PAD);
  return true;
}

export function stagingPtr(): usize {
  return stagingBase;
}
export function inputPtr(): usize {
  return xBuf;
}
export function labelsPtr(): usize {
  return labelBuf;
}
export function logitsPtr(): usize {
  return logitBuf;
}
export function pixelsPtr(): usize {
  return pixelBuf;
}
/** Raw digits at pixelsPtr() -> the normalised input of forward (asm/preprocess.ts). */
export function preparePixels(n: i32, side: i32): bool {
  return preprocessImages(pixelBuf, xBuf, n, side);
}
export function scoresPtr(): usize {
  return scoreBuf;
}
/**
 * After forward(n) on the digits at pixelsPtr(): their softmax probabilities replace the logits
 * at logitsPtr(), their labels and blank flags (fewer than `minInk` raw pixels >= 128) go to
 * scoresPtr() (asm/scores.ts).
 */
export function scorePixels(n: i32, side: i32, minInk: i32): void {
  scoreDigits(logitBuf, pixelBuf, scoreBuf, n, side, minInk);
}

// ---- The bound training set (asm/trainset.ts) ---------------------------------------------

/**
 * Makes room for a training set of `count` 32x32 images before the batch buffers (which move:
 * call reserve again) and returns its base, where the caller writes the normalisation table
 * (256 f32), then the labels at setLabelsPtr() and the pixels at setPixelsPtr(); 0 if memory
 * cannot grow.
 */
export function bindSet(count: i32): usize {
  const bytes = setRegionBytes(<usize>count, 32 * 32);
  const end = alignUp(batchBase + bytes);
  const have = (<usize>memory.size()) << 16;
  if (end > have && memory.grow(<i32>((end - have + 0xffff) >> 16)) < 0) return 0;
  placeSet(batchBase, <usize>count, 32 * 32);
  batchStart = end;
  capacity = 0;
  return setTableAt();
}
/** Forgets the set; the batch buffers move back (call reserve again). */
export function unbindSet(): void {
  clearSet();
  batchStart = batchBase;
  capacity = 0;
}
export function setLabelsPtr(): usize {
  return setLabelsAt();
}
export function setPixelsPtr(): usize {
  return setPixelsAt();
}
export function indicesPtr(): usize {
  return indexBuf;
}
/** The set's images indicesPtr()[0..n) -> the input and labels of a step; false: bad index. */
export function gatherBatch(n: i32): bool {
  return gatherSet(indexBuf, n, xBuf, labelBuf);
}
export function augmentParamsPtr(): usize {
  return augmentBuf;
}
/**
 * Distorts the gathered input in place with the distortions staged at augmentParamsPtr() (see
 * asm/trainset.ts), an elastic field of `elastic` pixels on a `grid`² grid (0: none); false for
 * a grid outside 2..64 or no bound set.
 */
export function distortBatch(n: i32, elastic: f64, grid: i32): bool {
  return distortSet(xBuf, n, 32, augmentBuf, elastic, grid, framedBuf, fieldBuf);
}

/** Number of correct predictions in the last trainStep. */
export function correctCount(): i32 {
  return lastCorrect;
}

// ---- Parameter import/export -------------------------------------------------------------

/** Copies `rows` rows of `cols` floats between layouts with different row strides, zero padding. */
function copyRows(dst: usize, dstCols: usize, src: usize, srcCols: usize, rows: usize): void {
  const cols = min(dstCols, srcCols);
  for (let r: usize = 0; r < rows; r++) {
    memory.copy(dst + r * dstCols * 4, src + r * srcCols * 4, cols * 4);
    if (dstCols > cols) memory.fill(dst + (r * dstCols + cols) * 4, 0, (dstCols - cols) * 4);
  }
}

/** The internal-layout block `which` names: 0 parameters, 1 gradients, 2 and 3 Adam's moments. */
function block(which: i32): usize {
  if (which === 1) return gradsPtr;
  if (which === 2) return adamM;
  if (which === 3) return adamV;
  return paramsPtr;
}

/** Copies the staged tfjs-layout values into block `which` (see block()), zeroing the padding. */
export function loadParams(which: i32): void {
  const s = stagingBase;
  const d = block(which);
  copyRows(d + C1W, 8, s + S_C1W, 6, 25);
  copyRows(d + C1B, 8, s + S_C1B, 6, 1);
  memory.copy(d + C2W, s + S_C2W, S_F3W - S_C2W); // conv2 .. fc2 bias: identical layouts
  copyRows(d + F3W, 12, s + S_F3W, 10, 84);
  copyRows(d + F3B, 12, s + S_F3B, 10, 1);
}

/** Copies block `which` (see block()) to the staging area in tfjs layouts. */
export function storeParams(which: i32): void {
  const s = stagingBase;
  const d = block(which);
  copyRows(s + S_C1W, 6, d + C1W, 8, 25);
  copyRows(s + S_C1B, 6, d + C1B, 8, 1);
  memory.copy(s + S_C2W, d + C2W, S_F3W - S_C2W);
  copyRows(s + S_F3W, 10, d + F3W, 12, 84);
  copyRows(s + S_F3B, 10, d + F3B, 12, 1);
}

/** Zeroes Adam's moments; the wrapper resets its step counter. */
export function resetAdam(): void {
  memory.fill(adamM, 0, 2 * PARAMS);
}

// ---- SIMD helpers ------------------------------------------------------------------------

/** a*b + c: one fused instruction with relaxed SIMD, else a rounded multiply and an add. */
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** [sum(a), sum(b), sum(c), sum(d)]. */
function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 1, 4, 5), v128.shuffle<f32>(ab, cd, 2, 3, 6, 7));
}

/** v < 0 ? 0 : v: one instruction, and NaN stays NaN so a diverging model shows a NaN loss. */
function relu(v: v128): v128 {
  return f32x4.pmax(v, f32x4.splat(0));
}

/** Keeps lanes of `g` where `act` > 0: the ReLU derivative, 0 at 0. */
function reluMask(g: v128, act: v128): v128 {
  return v128.and(g, f32x4.gt(act, f32x4.splat(0)));
}

// ---- conv1 + ReLU + pool1 ----------------------------------------------------------------

// Each 2x2 pooling window is computed in registers and reduced there; conv1's full output never
// reaches memory. The window's 4 pixels x 6 channels are 6 accumulators with no idle lanes:
// channels 0-3 of each pixel (a00..a11), and channels 4-5 of a pixel pair per window row
// (b0, b1), lanes [left c4, right c4, left c5, right c5]. With one input channel the taps are
// image values: broadcast for the a's, and for the b's the two adjacent pixels of a row loaded
// as a 64-bit pair [left, right, left, right] against weights [w4, w4, w5, w5].
// Along a kernel row, tap kw's right pixels are tap kw+1's left ones, so their broadcasts are
// carried to the next tap: 6 vector loads per 6 multiply-adds instead of 8. Before that the loop
// was bound by loads (about 2 vector loads per cycle; scripts/bench-roofline.mjs), not arithmetic.
// Bias and ReLU commute with the max, so they are applied to the pooled value only; the argmax
// is taken before ReLU, which picks the same element whenever the gradient is non-zero.
//
// Background windows. Half of an MNIST digit's windows (51% over the test set, in the 32x32
// frame) read a 6x6 patch that is all background, and all such windows give the same result up
// to the argmax addresses' base. The first one (in a call, or after the background changed) is
// computed as usual and its result kept: values, and addresses relative to its pixel. The others
// copy it, so they are bit for bit what the window code would compute (a formula such as
// c*sum(w) would round differently); conv1 costs 40% less. "Background" is the image's corner
// value compared as bits, never an assumed constant: inputs come from the normalisation table,
// the bound training set or floats JS wrote. A NaN matches only the same NaN bits, -0 does not
// match 0. The kept result holds within one stage call only: the parameters change between
// calls (loadParams, Adam, JS writes to parametersAddress()), and conv1Kernel, which every call
// runs first, forgets it.

// The kept background window: its input bits, its stores (channels 0-3, 4-5) and its argmax
// addresses minus the window's pixel address.
let bgKept = false;
let bgBits: i32 = 0;
let bgOutA: v128 = i32x4(0, 0, 0, 0);
let bgOutB: v128 = i32x4(0, 0, 0, 0);
let bgOffA: v128 = i32x4(0, 0, 0, 0);
let bgOffB: v128 = i32x4(0, 0, 0, 0);
// -1 turns the skip off (every window counts as not background); see setConv1Skip.
let bgSkipOff: i32 = 0;

/**
 * @internal Tests only: `false` computes every conv1 window, as before background windows were
 * copied, so a test can compare the two; `true` (the default) copies them.
 */
export function setConv1Skip(on: bool): void {
  bgSkipOff = on ? 0 : -1;
}

function conv1Kernel(): void {
  for (let k: usize = 0; k < 25 * 32; k += 32) {
    const hi = v128.load(paramsPtr + C1W + k, 16);
    v128.store(w1k + k, v128.load(paramsPtr + C1W + k));
    v128.store(w1k + k, v128.shuffle<f32>(hi, hi, 0, 0, 1, 1), 16);
  }
  bgKept = false;
}

/**
 * Bit c is set where column c of row `row` or the row below holds a value whose bits differ from
 * `bg`'s lanes: 32 columns, 8 compares per row, one bitmask per 16 columns.
 */
function differsInRows(row: usize, bg: v128): i32 {
  const e0 = v128.and(i32x4.eq(v128.load(row), bg), i32x4.eq(v128.load(row, 128), bg));
  const e1 = v128.and(i32x4.eq(v128.load(row, 16), bg), i32x4.eq(v128.load(row, 144), bg));
  const e2 = v128.and(i32x4.eq(v128.load(row, 32), bg), i32x4.eq(v128.load(row, 160), bg));
  const e3 = v128.and(i32x4.eq(v128.load(row, 48), bg), i32x4.eq(v128.load(row, 176), bg));
  const e4 = v128.and(i32x4.eq(v128.load(row, 64), bg), i32x4.eq(v128.load(row, 192), bg));
  const e5 = v128.and(i32x4.eq(v128.load(row, 80), bg), i32x4.eq(v128.load(row, 208), bg));
  const e6 = v128.and(i32x4.eq(v128.load(row, 96), bg), i32x4.eq(v128.load(row, 224), bg));
  const e7 = v128.and(i32x4.eq(v128.load(row, 112), bg), i32x4.eq(v128.load(row, 240), bg));
  // Lanes are all ones or zeros, which the saturating narrows keep.
  const lo = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(e0, e1), i16x8.narrow_i32x4_s(e2, e3));
  const hi = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(e4, e5), i16x8.narrow_i32x4_s(e6, e7));
  return ~(i8x16.bitmask(lo) | (i8x16.bitmask(hi) << 16));
}

function conv1Forward(s: usize): void {
  const x = xBuf + s * IMG;
  const out = p1Buf + s * P1;
  const idx = idx1Buf + s * IDX1;
  const biasA = v128.load(paramsPtr + C1B);
  const biasB = v128.load(paramsPtr + C1B, 16); // [b4, b5, 0, 0]
  // Offsets of the window's pixels: [top-left, top-right, bottom-left, bottom-right].
  const dTop = i32x4(0, 0, 128, 128); // left pixel of each row, per lane of the b's
  const dRight = i32x4(4, 4, 132, 132);
  // Window row i reads image rows 2i..2i+5: the differing columns of row pairs i, i+1, i+2.
  const bg = v128.load32_splat(x);
  const bits = i32.load(x);
  let kept = bgKept && bgBits === bits;
  let pair0 = differsInRows(x, bg) | bgSkipOff;
  let pair1 = differsInRows(x + 256, bg) | bgSkipOff;
  for (let i: usize = 0; i < 14; i++) {
    const pair2 = differsInRows(x + (i + 2) * 256, bg) | bgSkipOff;
    const differs = pair0 | pair1 | pair2;
    pair0 = pair1;
    pair1 = pair2;
    for (let j: usize = 0; j < 14; j++) {
      const px = x + (i * 64 + j * 2) * 4; // pixel (2i, 2j)
      const q = i * 14 + j;
      // Columns 2j..2j+5 all background: the same stores as the window code (lanes 6-7 of the
      // argmax record untouched, as there).
      const background = ((differs >>> (<i32>j * 2)) & 63) === 0;
      if (background && kept) {
        const base = i32x4.splat(<i32>px);
        v128.store(out + q * 24, bgOutA);
        v128.store64_lane(out + q * 24, bgOutB, 0, 16);
        v128.store(idx + q * 32, i32x4.add(base, bgOffA));
        v128.store64_lane(idx + q * 32, i32x4.add(base, bgOffB), 0, 16);
        continue;
      }
      let a00 = f32x4.splat(0);
      let a01 = a00;
      let a10 = a00;
      let a11 = a00;
      let b0 = a00;
      let b1 = a00;
      let wk = w1k;
      for (let kh: usize = 0; kh < 5; kh++) {
        let row = px + kh * 128;
        const end = row + 20;
        // Each image value is broadcast once per kernel row, not twice (same values, same order).
        let top = v128.load32_splat(row);
        let bottom = v128.load32_splat(row, 128);
        while (row < end) {
          const wa = v128.load(wk);
          const wb = v128.load(wk, 16);
          const nextTop = v128.load32_splat(row, 4);
          const nextBottom = v128.load32_splat(row, 132);
          a00 = madd(top, wa, a00);
          a01 = madd(nextTop, wa, a01);
          a10 = madd(bottom, wa, a10);
          a11 = madd(nextBottom, wa, a11);
          b0 = madd(v128.load64_splat(row), wb, b0);
          b1 = madd(v128.load64_splat(row, 128), wb, b1);
          top = nextTop;
          bottom = nextBottom;
          row += 4;
          wk += 32;
        }
      }
      const base = i32x4.splat(<i32>px);
      // Channels 0-3: first maximum in row-major window order wins, as in tfjs and PyTorch.
      let m = f32x4.gt(a01, a00);
      let best = f32x4.pmax(a00, a01);
      let off = v128.bitselect(i32x4.add(base, i32x4.splat(4)), base, m);
      m = f32x4.gt(a10, best);
      best = f32x4.pmax(best, a10);
      off = v128.bitselect(i32x4.add(base, i32x4.splat(128)), off, m);
      m = f32x4.gt(a11, best);
      best = f32x4.pmax(best, a11);
      off = v128.bitselect(i32x4.add(base, i32x4.splat(132)), off, m);
      const outA = relu(f32x4.add(best, biasA));
      const offA = off;
      v128.store(out + q * 24, outA);
      v128.store(idx + q * 32, off);
      // Channels 4-5: lanes [c4, c5] of each row's left (l) and right (r) pixel; the right one
      // wins a row only if greater, then the bottom row's winner only if greater than the top's.
      const l = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
      const r = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
      m = f32x4.gt(r, l);
      const rowBest = f32x4.pmax(l, r);
      const rowOff = v128.bitselect(i32x4.add(base, dRight), i32x4.add(base, dTop), m);
      const bottom = v128.shuffle<f32>(rowBest, rowBest, 2, 3, 2, 3);
      m = f32x4.gt(bottom, rowBest);
      best = f32x4.pmax(rowBest, bottom);
      off = v128.bitselect(v128.shuffle<i32>(rowOff, rowOff, 2, 3, 2, 3), rowOff, m);
      const outB = relu(f32x4.add(best, biasB));
      v128.store64_lane(out + q * 24, outB, 0, 16);
      v128.store64_lane(idx + q * 32, off, 0, 16);
      if (background) {
        bgOutA = outA;
        bgOutB = outB;
        bgOffA = i32x4.sub(offA, base);
        bgOffB = i32x4.sub(off, base);
        bgBits = bits;
        bgKept = true;
        kept = true;
      }
    }
  }
}

// ---- conv2 + pool2 -----------------------------------------------------------------------

// Implicit im2col: for a fixed kh, the 5 kw x 6 ci inputs of an output pixel are 30 contiguous
// floats of pool1's NHWC output, matching 30 contiguous rows of the HWIO weights. A window is
// computed as 4 pixels x 8 channels in two halves of the 16 output channels. No activation
// follows conv2 in this network, so bias is added after the max.

function conv2Forward(s: usize): void {
  const inp = p1Buf + s * P1;
  const out = p2Buf + s * P2;
  const idx = idx2Buf + s * P2;
  for (let i: usize = 0; i < 5; i++) {
    for (let j: usize = 0; j < 5; j++) {
      const px = inp + (i * 28 + j * 2) * 24; // input pixel (2i, 2j)
      const q = i * 5 + j;
      for (let h: usize = 0; h < 2; h++) {
        let a00 = f32x4.splat(0);
        let b00 = a00;
        let a01 = a00;
        let b01 = a00;
        let a10 = a00;
        let b10 = a00;
        let a11 = a00;
        let b11 = a00;
        let wk = paramsPtr + C2W + h * 32;
        for (let kh: usize = 0; kh < 5; kh++) {
          let row = px + kh * P1_ROW;
          const end = row + 30 * 4;
          while (row < end) {
            const wa = v128.load(wk);
            const wb = v128.load(wk, 16);
            let t = v128.load32_splat(row);
            a00 = madd(t, wa, a00);
            b00 = madd(t, wb, b00);
            t = v128.load32_splat(row, 24);
            a01 = madd(t, wa, a01);
            b01 = madd(t, wb, b01);
            t = v128.load32_splat(row, P1_ROW);
            a10 = madd(t, wa, a10);
            b10 = madd(t, wb, b10);
            t = v128.load32_splat(row, P1_ROW + 24);
            a11 = madd(t, wa, a11);
            b11 = madd(t, wb, b11);
            row += 4;
            wk += 64;
          }
        }
        const o0 = i32x4.splat(<i32>px);
        const o1 = i32x4.splat(<i32>(px + 24));
        const o2 = i32x4.splat(<i32>(px + P1_ROW));
        const o3 = i32x4.splat(<i32>(px + P1_ROW + 24));
        let m = f32x4.gt(a01, a00);
        let bestA = f32x4.pmax(a00, a01);
        let offA = v128.bitselect(o1, o0, m);
        m = f32x4.gt(a10, bestA);
        bestA = f32x4.pmax(bestA, a10);
        offA = v128.bitselect(o2, offA, m);
        m = f32x4.gt(a11, bestA);
        bestA = f32x4.pmax(bestA, a11);
        offA = v128.bitselect(o3, offA, m);
        m = f32x4.gt(b01, b00);
        let bestB = f32x4.pmax(b00, b01);
        let offB = v128.bitselect(o1, o0, m);
        m = f32x4.gt(b10, bestB);
        bestB = f32x4.pmax(bestB, b10);
        offB = v128.bitselect(o2, offB, m);
        m = f32x4.gt(b11, bestB);
        bestB = f32x4.pmax(bestB, b11);
        offB = v128.bitselect(o3, offB, m);
        const bias = paramsPtr + C2B + h * 32;
        const at = (q * 16 + h * 8) * 4;
        v128.store(out + at, f32x4.add(bestA, v128.load(bias)));
        v128.store(out + at, f32x4.add(bestB, v128.load(bias, 16)), 16);
        v128.store(idx + at, offA);
        v128.store(idx + at, offB, 16);
      }
    }
  }
}

// ---- conv2 + pool2 for inference: Winograd F(4x4, 5x5) -----------------------------------

// conv2 holds 58% of a forward pass's multiply-adds (240,000 of 416,520 a digit), and the direct
// kernel above already runs at the 128-bit SIMD ceiling (scripts/bench-roofline.mjs), so only
// fewer operations make inference faster. Winograd's minimal filtering (Lavin & Gray 2016)
// computes a 4x4 output tile (4 pooling windows) from an 8x8 input tile with 64 products per
// channel pair instead of 400. conv2's 10x10 output takes 3x3 tiles (rows and columns 10-11 are
// computed from zero padding and dropped): 55,296 multiply-adds a digit plus the transforms.
// F(2x2, 5x5) needs 86,400 and transforms as costly; F(4x4) rounds about twice as coarsely
// (both far inside the tests' tolerance; test/engine/fused-winograd.test.ts).
//   Y = A^T [ sum over input channels of (G g G^T) * (B^T d B) ] A, at the points 0, 1, -1,
//   2, -2, 1/2, -1/2 and infinity:
//   B^T = [1 0 -21/4 0 21/4 0 -1 0; 0 1 1 -17/4 -17/4 1 1 0; 0 -1 1 17/4 -17/4 -1 1 0;
//          0 1/2 1/4 -5/2 -5/4 2 1 0; 0 -1/2 1/4 5/2 -5/4 -2 1 0; 0 2 4 -5/2 -5 1/2 1 0;
//          0 -2 4 5/2 -5 -1/2 1 0; 0 -1 0 21/4 0 -21/4 0 1]
//   G   = [1 0 0 0 0; -2/9 (1 1 1 1 1); -2/9 (1 -1 1 -1 1); 1/90 (1 2 4 8 16);
//          1/90 (1 -2 4 -8 16); 32/45 (1 1/2 1/4 1/8 1/16); 32/45 (1 -1/2 1/4 -1/8 1/16); 0 0 0 0 1]
//   A^T = [1 1 1 1 1 1 1 0; 0 1 -1 2 -2 1/2 -1/2 0; 0 1 1 4 4 1/4 1/4 0; 0 1 -1 8 -8 1/8 -1/8 1]
// The sums are the direct kernel's in another order through scaled terms, so logits differ from
// the direct kernel's in the last bits. Only inference uses it: a training step's backward pass needs the argmax
// addresses the direct kernel records, so training does not change.
//
// Per tile row (3 tiles) of an image: B^T down the 8 input rows of each of the 14 pool1 columns,
// once for the overlapping tiles, then along each tile's 8 columns (winogradTiles); a [6 in] x
// [6 in][16 out] product per tile and point with the transformed filters (winogradProduct); A^T
// on both sides, the max of each 2x2 window and the bias (winogradPool). Channels are the lanes.

// The transformed filters: U[64 points][6 in][16 out], and the conv2 kernel they were made
// from (compared on every call: weights reach the module through several paths).
const wU: usize = memory.data(64 * 6 * 16 * 4, 16);
const wKernel: usize = memory.data(2400 * 4, 16);
let wValid = false;
// Scratch of one tile row: B^T down the rows [8][16 columns][8 lanes] (columns 14-15 stay zero:
// the padding), the tiles' transformed inputs [3][64][8 lanes] and their products [3][64][16].
const wCols: usize = memory.data(8 * 16 * 8 * 4, 16);
const wV: usize = memory.data(3 * 64 * 8 * 4, 16);
const wM: usize = memory.data(3 * 64 * 16 * 4, 16);
// A^T's partial results for one tile and output vector (winogradPool): [4][8], then [4][4].
const wS: usize = memory.data(32 * 16, 16);
const wY: usize = memory.data(16 * 16, 16);
// G in double precision: U is rounded to float once.
// biome-ignore format: an 8x5 matrix, a row a line
const wG: usize = memory.data<f64>([
  1, 0, 0, 0, 0,
  -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9,
  -2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9,
  1.0 / 90, 2.0 / 90, 4.0 / 90, 8.0 / 90, 16.0 / 90,
  1.0 / 90, -2.0 / 90, 4.0 / 90, -8.0 / 90, 16.0 / 90,
  32.0 / 45, 16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45,
  32.0 / 45, -16.0 / 45, 8.0 / 45, -4.0 / 45, 2.0 / 45,
  0, 0, 0, 0, 1,
]);
const wGg: usize = memory.data(8 * 5 * 8, 16); // G g for one channel pair, [8][5 kw]

/** U = G g G^T for every channel pair, unless the conv2 kernel is the one U was made from. */
function winogradFilters(): void {
  let diff = i32x4.splat(0);
  for (let o: usize = 0; o < 2400 * 4; o += 16) {
    diff = v128.or(diff, v128.xor(v128.load(paramsPtr + C2W + o), v128.load(wKernel + o)));
  }
  if (wValid && !v128.any_true(diff)) return;
  memory.copy(wKernel, paramsPtr + C2W, 2400 * 4);
  wValid = true;
  for (let ci: usize = 0; ci < 6; ci++) {
    for (let co: usize = 0; co < 16; co++) {
      // g[kh][kw] = kernel[((kh * 5 + kw) * 6 + ci) * 16 + co] (HWIO)
      const g = paramsPtr + C2W + (ci * 16 + co) * 4;
      for (let a: usize = 0; a < 8; a++) {
        for (let kw: usize = 0; kw < 5; kw++) {
          let sum: f64 = 0;
          for (let kh: usize = 0; kh < 5; kh++) {
            sum += load<f64>(wG + (a * 5 + kh) * 8) * <f64>load<f32>(g + (kh * 5 + kw) * 384);
          }
          store<f64>(wGg + (a * 5 + kw) * 8, sum);
        }
      }
      for (let a: usize = 0; a < 8; a++) {
        for (let b: usize = 0; b < 8; b++) {
          let sum: f64 = 0;
          for (let kw: usize = 0; kw < 5; kw++) {
            sum += load<f64>(wGg + (a * 5 + kw) * 8) * load<f64>(wG + (b * 5 + kw) * 8);
          }
          store<f32>(wU + (((a * 8 + b) * 6 + ci) * 16 + co) * 4, <f32>sum);
        }
      }
    }
  }
}

/**
 * The transforms, as static methods only because TypeScript tools accept decorators on methods:
 * `@inline` makes AssemblyScript inline them, so their stride arguments become constants folded
 * into the loads' offsets (called, conv2 takes a third longer).
 */
// biome-ignore lint/complexity/noStaticOnlyClass: see above; AssemblyScript has no other way.
class Winograd {
  /**
   * B^T applied to 8 vectors `stride` bytes apart at `src` (the last `8 - rows` taken as zero),
   * written `dstStride` apart at `dst`.
   */
  @inline static input(src: usize, stride: usize, rows: i32, dst: usize, dstStride: usize): void {
    const zero = f32x4.splat(0);
    const d0 = v128.load(src);
    const d1 = v128.load(src + stride);
    const d2 = v128.load(src + 2 * stride);
    const d3 = v128.load(src + 3 * stride);
    const d4 = v128.load(src + 4 * stride);
    const d5 = v128.load(src + 5 * stride);
    const d6 = rows > 6 ? v128.load(src + 6 * stride) : zero;
    const d7 = rows > 7 ? v128.load(src + 7 * stride) : zero;
    const k21 = f32x4.splat(5.25);
    const k17 = f32x4.splat(4.25);
    v128.store(dst, f32x4.add(f32x4.sub(d0, d6), f32x4.mul(k21, f32x4.sub(d4, d2))));
    let s = f32x4.sub(f32x4.add(d2, d6), f32x4.mul(k17, d4));
    let t = f32x4.sub(f32x4.add(d1, d5), f32x4.mul(k17, d3));
    v128.store(dst + dstStride, f32x4.add(s, t));
    v128.store(dst + 2 * dstStride, f32x4.sub(s, t));
    s = f32x4.sub(
      f32x4.add(d6, f32x4.mul(f32x4.splat(0.25), d2)),
      f32x4.mul(f32x4.splat(1.25), d4),
    );
    t = f32x4.add(
      f32x4.sub(f32x4.mul(f32x4.splat(0.5), d1), f32x4.mul(f32x4.splat(2.5), d3)),
      f32x4.add(d5, d5),
    );
    v128.store(dst + 3 * dstStride, f32x4.add(s, t));
    v128.store(dst + 4 * dstStride, f32x4.sub(s, t));
    s = f32x4.sub(f32x4.add(d6, f32x4.mul(f32x4.splat(4), d2)), f32x4.mul(f32x4.splat(5), d4));
    t = f32x4.add(
      f32x4.sub(f32x4.add(d1, d1), f32x4.mul(f32x4.splat(2.5), d3)),
      f32x4.mul(f32x4.splat(0.5), d5),
    );
    v128.store(dst + 5 * dstStride, f32x4.add(s, t));
    v128.store(dst + 6 * dstStride, f32x4.sub(s, t));
    v128.store(
      dst + 7 * dstStride,
      f32x4.add(f32x4.sub(d7, d1), f32x4.mul(k21, f32x4.sub(d3, d5))),
    );
  }

  /**
   * A^T applied to 8 vectors `stride` bytes apart at `src`: its first `count` (2 or 4) outputs,
   * written `dstStride` apart at `dst`.
   */
  @inline static output(src: usize, stride: usize, count: i32, dst: usize, dstStride: usize): void {
    const m0 = v128.load(src);
    const m1 = v128.load(src + stride);
    const m2 = v128.load(src + 2 * stride);
    const m3 = v128.load(src + 3 * stride);
    const m4 = v128.load(src + 4 * stride);
    const m5 = v128.load(src + 5 * stride);
    const m6 = v128.load(src + 6 * stride);
    const p12 = f32x4.add(m1, m2);
    const q12 = f32x4.sub(m1, m2);
    const p34 = f32x4.add(m3, m4);
    const q34 = f32x4.sub(m3, m4);
    const p56 = f32x4.add(m5, m6);
    const q56 = f32x4.sub(m5, m6);
    v128.store(dst, f32x4.add(f32x4.add(m0, p12), f32x4.add(p34, p56)));
    v128.store(
      dst + dstStride,
      f32x4.add(f32x4.add(q12, f32x4.add(q34, q34)), f32x4.mul(f32x4.splat(0.5), q56)),
    );
    if (count < 4) return;
    v128.store(
      dst + 2 * dstStride,
      f32x4.add(f32x4.add(p12, f32x4.mul(f32x4.splat(4), p34)), f32x4.mul(f32x4.splat(0.25), p56)),
    );
    v128.store(
      dst + 3 * dstStride,
      f32x4.add(
        f32x4.add(
          f32x4.add(q12, f32x4.mul(f32x4.splat(8), q34)),
          f32x4.mul(f32x4.splat(0.125), q56),
        ),
        v128.load(src + 7 * stride),
      ),
    );
  }

  /** The max of four vectors at wY: [i][j] = wY + (i * 4 + j) * 16. */
  @inline static windowMax(i: usize, j: usize): v128 {
    const y = wY + (i * 4 + j) * 16;
    return f32x4.pmax(
      f32x4.pmax(v128.load(y), v128.load(y, 16)),
      f32x4.pmax(v128.load(y, 64), v128.load(y, 80)),
    );
  }
}

/**
 * The transformed inputs of tile row `ti` -> wV[3 tiles][64][8 lanes]. A pool1 pixel's channels
 * are the vectors at its offsets 0 (c0..c3) and 16 (c4, c5 and the next pixel's c0, c1: lanes
 * the product never reads; past the last image they are reserve's zeroed padding). Input rows
 * 14 and 15 of the last tile row are the zero padding.
 */
function winogradTiles(inp: usize, ti: usize): void {
  const top = inp + 4 * ti * P1_ROW;
  for (let j: usize = 0; j < 14; j++) {
    const dst = wCols + j * 32;
    if (ti < 2) {
      Winograd.input(top + j * 24, P1_ROW, 8, dst, 16 * 32);
      Winograd.input(top + j * 24 + 16, P1_ROW, 8, dst + 16, 16 * 32);
    } else {
      Winograd.input(top + j * 24, P1_ROW, 6, dst, 16 * 32);
      Winograd.input(top + j * 24 + 16, P1_ROW, 6, dst + 16, 16 * 32);
    }
  }
  for (let t: usize = 0; t < 3; t++) {
    for (let a: usize = 0; a < 8; a++) {
      const src = wCols + (a * 16 + 4 * t) * 32;
      const dst = wV + (t * 64 + a * 8) * 32;
      Winograd.input(src, 32, 8, dst, 32);
      Winograd.input(src + 16, 32, 8, dst + 16, 32);
    }
  }
}

/**
 * wM[t][p][16 out] = sum over the 6 input channels of wV[t][p][in] * wU[p][in][out], for the 3
 * tiles of a row at each of the 64 points: 8 outputs x 3 tiles are 6 sums; the first channel
 * multiplies, the others multiply-add.
 */
function winogradProduct(): void {
  for (let h: usize = 0; h < 2; h++) {
    for (let p: usize = 0; p < 64; p++) {
      const u = wU + (p * 96 + h * 8) * 4;
      const v = wV + p * 32;
      let ua = v128.load(u);
      let ub = v128.load(u, 16);
      let t = v128.load32_splat(v);
      let a0 = f32x4.mul(t, ua);
      let b0 = f32x4.mul(t, ub);
      t = v128.load32_splat(v, 64 * 32);
      let a1 = f32x4.mul(t, ua);
      let b1 = f32x4.mul(t, ub);
      t = v128.load32_splat(v, 2 * 64 * 32);
      let a2 = f32x4.mul(t, ua);
      let b2 = f32x4.mul(t, ub);
      for (let c: usize = 4; c < 24; c += 4) {
        ua = v128.load(u + c * 16);
        ub = v128.load(u + c * 16, 16);
        t = v128.load32_splat(v + c);
        a0 = madd(t, ua, a0);
        b0 = madd(t, ub, b0);
        t = v128.load32_splat(v + c, 64 * 32);
        a1 = madd(t, ua, a1);
        b1 = madd(t, ub, b1);
        t = v128.load32_splat(v + c, 2 * 64 * 32);
        a2 = madd(t, ua, a2);
        b2 = madd(t, ub, b2);
      }
      const m = wM + (p * 16 + h * 8) * 4;
      v128.store(m, a0);
      v128.store(m, b0, 16);
      v128.store(m, a1, 64 * 64);
      v128.store(m, b1, 64 * 64 + 16);
      v128.store(m, a2, 2 * 64 * 64);
      v128.store(m, b2, 2 * 64 * 64 + 16);
    }
  }
}

/** Tile row `ti`'s products -> A^T on both sides, the max of each 2x2 window, plus bias. */
function winogradPool(ti: usize, out: usize): void {
  for (let t: usize = 0; t < 3; t++) {
    for (let v: usize = 0; v < 64; v += 16) {
      const m = wM + t * 64 * 64 + v;
      // Down the 8 rows of points, for each column -> wS[4][8]; then along each row -> wY[4][4].
      // Output rows and columns 10-11 (the last tiles' 2 and 3) are padding: not computed.
      const rows: i32 = ti < 2 ? 4 : 2;
      const cols: i32 = t < 2 ? 4 : 2;
      for (let b: usize = 0; b < 8; b++) {
        Winograd.output(m + b * 64, 8 * 64, rows, wS + b * 16, 8 * 16);
      }
      for (let i: usize = 0; i < <usize>rows; i++) {
        Winograd.output(wS + i * 128, 16, cols, wY + i * 64, 16);
      }
      const bias = v128.load(paramsPtr + C2B + v);
      // Pooled rows 2ti, 2ti + 1 and columns 2t, 2t + 1; row and column 5 are padding.
      const q = out + (ti * 2 * 5 + t * 2) * 64 + v;
      v128.store(q, f32x4.add(Winograd.windowMax(0, 0), bias));
      if (t < 2) v128.store(q, f32x4.add(Winograd.windowMax(0, 2), bias), 64);
      if (ti < 2) {
        v128.store(q, f32x4.add(Winograd.windowMax(2, 0), bias), 5 * 64);
        if (t < 2) v128.store(q, f32x4.add(Winograd.windowMax(2, 2), bias), 6 * 64);
      }
    }
  }
}

/** conv2 + pool2 of image `s` by Winograd F(4x4, 5x5); call winogradFilters first. */
function conv2Winograd(s: usize): void {
  const inp = p1Buf + s * P1;
  const out = p2Buf + s * P2;
  for (let ti: usize = 0; ti < 3; ti++) {
    winogradTiles(inp, ti);
    winogradProduct();
    winogradPool(ti, out);
  }
}

// ---- Dense layers ------------------------------------------------------------------------

// All dense widths (120, 84, 12) are multiples of 3 vectors, so every kernel works on blocks of
// 12 outputs: 2 rows x 3 vectors = 6 accumulators.

/** out[m][nout] = act(a[m][k] @ w[k][nout] + bias). */
function denseForward(
  a: usize,
  k: usize,
  w: usize,
  bias: usize,
  out: usize,
  nout: usize,
  m: usize,
  useRelu: bool,
): void {
  const rowA = k * 4;
  const rowW = nout * 4;
  for (let jb: usize = 0; jb < nout * 4; jb += 48) {
    const bias0 = v128.load(bias + jb);
    const bias1 = v128.load(bias + jb, 16);
    const bias2 = v128.load(bias + jb, 32);
    // Column-block outer loop: this block's weights (k x 48 bytes) stay in L1 over all rows.
    // With relaxed SIMD, three rows at a time: 9 independent sums hide the fused multiply-add's
    // latency (6 do not: -23% time). Plain SIMD's separate multiply needs registers for the
    // products, and 9 sums spill (2.3x slower), so that build keeps two rows.
    let r: usize = 0;
    for (; ASC_FEATURE_RELAXED_SIMD && r + 3 <= m; r += 3) {
      let c00 = bias0;
      let c01 = bias1;
      let c02 = bias2;
      let c10 = bias0;
      let c11 = bias1;
      let c12 = bias2;
      let c20 = bias0;
      let c21 = bias1;
      let c22 = bias2;
      let pa = a + r * rowA;
      const end = pa + rowA;
      let pw = w + jb;
      while (pa < end) {
        const w0 = v128.load(pw);
        const w1 = v128.load(pw, 16);
        const w2 = v128.load(pw, 32);
        let t = v128.load32_splat(pa);
        c00 = madd(t, w0, c00);
        c01 = madd(t, w1, c01);
        c02 = madd(t, w2, c02);
        t = v128.load32_splat(pa + rowA);
        c10 = madd(t, w0, c10);
        c11 = madd(t, w1, c11);
        c12 = madd(t, w2, c12);
        t = v128.load32_splat(pa + 2 * rowA);
        c20 = madd(t, w0, c20);
        c21 = madd(t, w1, c21);
        c22 = madd(t, w2, c22);
        pa += 4;
        pw += rowW;
      }
      const po = out + r * rowW + jb;
      if (useRelu) {
        c00 = relu(c00);
        c01 = relu(c01);
        c02 = relu(c02);
        c10 = relu(c10);
        c11 = relu(c11);
        c12 = relu(c12);
        c20 = relu(c20);
        c21 = relu(c21);
        c22 = relu(c22);
      }
      v128.store(po, c00);
      v128.store(po, c01, 16);
      v128.store(po, c02, 32);
      v128.store(po + rowW, c10);
      v128.store(po + rowW, c11, 16);
      v128.store(po + rowW, c12, 32);
      v128.store(po + 2 * rowW, c20);
      v128.store(po + 2 * rowW, c21, 16);
      v128.store(po + 2 * rowW, c22, 32);
    }
    for (; r + 2 <= m; r += 2) {
      let c00 = bias0;
      let c01 = bias1;
      let c02 = bias2;
      let c10 = bias0;
      let c11 = bias1;
      let c12 = bias2;
      let pa = a + r * rowA;
      const end = pa + rowA;
      let pw = w + jb;
      while (pa < end) {
        const w0 = v128.load(pw);
        const w1 = v128.load(pw, 16);
        const w2 = v128.load(pw, 32);
        let t = v128.load32_splat(pa);
        c00 = madd(t, w0, c00);
        c01 = madd(t, w1, c01);
        c02 = madd(t, w2, c02);
        t = v128.load32_splat(pa + rowA);
        c10 = madd(t, w0, c10);
        c11 = madd(t, w1, c11);
        c12 = madd(t, w2, c12);
        pa += 4;
        pw += rowW;
      }
      const po = out + r * rowW + jb;
      if (useRelu) {
        c00 = relu(c00);
        c01 = relu(c01);
        c02 = relu(c02);
        c10 = relu(c10);
        c11 = relu(c11);
        c12 = relu(c12);
      }
      v128.store(po, c00);
      v128.store(po, c01, 16);
      v128.store(po, c02, 32);
      v128.store(po + rowW, c10);
      v128.store(po + rowW, c11, 16);
      v128.store(po + rowW, c12, 32);
    }
    if (r < m) {
      let c00 = bias0;
      let c01 = bias1;
      let c02 = bias2;
      let pa = a + r * rowA;
      const end = pa + rowA;
      let pw = w + jb;
      while (pa < end) {
        const t = v128.load32_splat(pa);
        c00 = madd(t, v128.load(pw), c00);
        c01 = madd(t, v128.load(pw, 16), c01);
        c02 = madd(t, v128.load(pw, 32), c02);
        pa += 4;
        pw += rowW;
      }
      const po = out + r * rowW + jb;
      if (useRelu) {
        c00 = relu(c00);
        c01 = relu(c01);
        c02 = relu(c02);
      }
      v128.store(po, c00);
      v128.store(po, c01, 16);
      v128.store(po, c02, 32);
    }
  }
}

/** gw[k][nout] = a[m][k]^T @ dz[m][nout]; gb[nout] = column sums of dz. `k` is even. */
function denseGradWeights(
  a: usize,
  k: usize,
  dz: usize,
  nout: usize,
  m: usize,
  gw: usize,
  gb: usize,
): void {
  const rowA = k * 4;
  const rowZ = nout * 4;
  for (let jb: usize = 0; jb < rowZ; jb += 48) {
    for (let kk: usize = 0; kk < k; kk += 2) {
      let c00 = f32x4.splat(0);
      let c01 = c00;
      let c02 = c00;
      let c10 = c00;
      let c11 = c00;
      let c12 = c00;
      let pa = a + kk * 4;
      let pz = dz + jb;
      const end = pz + m * rowZ;
      while (pz < end) {
        const z0 = v128.load(pz);
        const z1 = v128.load(pz, 16);
        const z2 = v128.load(pz, 32);
        let t = v128.load32_splat(pa);
        c00 = madd(t, z0, c00);
        c01 = madd(t, z1, c01);
        c02 = madd(t, z2, c02);
        t = v128.load32_splat(pa, 4);
        c10 = madd(t, z0, c10);
        c11 = madd(t, z1, c11);
        c12 = madd(t, z2, c12);
        pa += rowA;
        pz += rowZ;
      }
      const po = gw + kk * rowZ + jb;
      v128.store(po, c00);
      v128.store(po, c01, 16);
      v128.store(po, c02, 32);
      v128.store(po + rowZ, c10);
      v128.store(po + rowZ, c11, 16);
      v128.store(po + rowZ, c12, 32);
    }
  }
  for (let jb: usize = 0; jb < rowZ; jb += 16) {
    let acc = f32x4.splat(0);
    for (let r: usize = 0; r < m; r++) acc = f32x4.add(acc, v128.load(dz + r * rowZ + jb));
    v128.store(gb + jb, acc);
  }
}

/**
 * dx[m][k] = dz[m][nout] @ w[k][nout]^T, as dot products of contiguous rows (no transposed
 * copy of w), then masked by ReLU'(act) when `act` is not 0. `k` is a multiple of 4.
 */
function denseGradInput(
  dz: usize,
  nout: usize,
  w: usize,
  k: usize,
  m: usize,
  dx: usize,
  act: usize,
): void {
  const rowZ = nout * 4;
  const rowX = k * 4;
  for (let kk: usize = 0; kk < k; kk += 4) {
    // k-block outer loop: 4 weight rows are reused by every row of dz, which (64 x 480 bytes
    // at most for a batch of 64) stays in L1.
    const pw = w + kk * rowZ;
    let r: usize = 0;
    for (; r + 2 <= m; r += 2) {
      let c0 = f32x4.splat(0);
      let c1 = c0;
      let c2 = c0;
      let c3 = c0;
      let e0 = c0;
      let e1 = c0;
      let e2 = c0;
      let e3 = c0;
      const pz = dz + r * rowZ;
      for (let j: usize = 0; j < rowZ; j += 16) {
        const z0 = v128.load(pz + j);
        const z1 = v128.load(pz + rowZ + j);
        const pj = pw + j;
        let t = v128.load(pj);
        c0 = madd(z0, t, c0);
        e0 = madd(z1, t, e0);
        t = v128.load(pj + rowZ);
        c1 = madd(z0, t, c1);
        e1 = madd(z1, t, e1);
        t = v128.load(pj + 2 * rowZ);
        c2 = madd(z0, t, c2);
        e2 = madd(z1, t, e2);
        t = v128.load(pj + 3 * rowZ);
        c3 = madd(z0, t, c3);
        e3 = madd(z1, t, e3);
      }
      const po = dx + r * rowX + kk * 4;
      let g0 = hsum4(c0, c1, c2, c3);
      let g1 = hsum4(e0, e1, e2, e3);
      if (act !== 0) {
        g0 = reluMask(g0, v128.load(act + r * rowX + kk * 4));
        g1 = reluMask(g1, v128.load(act + (r + 1) * rowX + kk * 4));
      }
      v128.store(po, g0);
      v128.store(po + rowX, g1);
    }
    if (r < m) {
      let c0 = f32x4.splat(0);
      let c1 = c0;
      let c2 = c0;
      let c3 = c0;
      const pz = dz + r * rowZ;
      for (let j: usize = 0; j < rowZ; j += 16) {
        const z0 = v128.load(pz + j);
        const pj = pw + j;
        c0 = madd(z0, v128.load(pj), c0);
        c1 = madd(z0, v128.load(pj + rowZ), c1);
        c2 = madd(z0, v128.load(pj + 2 * rowZ), c2);
        c3 = madd(z0, v128.load(pj + 3 * rowZ), c3);
      }
      let g0 = hsum4(c0, c1, c2, c3);
      if (act !== 0) g0 = reluMask(g0, v128.load(act + r * rowX + kk * 4));
      v128.store(dx + r * rowX + kk * 4, g0);
    }
  }
}

// ---- Loss --------------------------------------------------------------------------------

/** Mean softmax cross-entropy; writes d(loss)/d(logits) and counts correct argmaxes. */
function lossAndGrad(n: usize): f64 {
  let loss: f64 = 0;
  let correct = 0;
  const invN = <f32>1 / <f32>n;
  for (let s: usize = 0; s < n; s++) {
    const z = zBuf + s * Z;
    const dz = dzBuf + s * Z;
    const label = <usize>load<u8>(labelBuf + s);
    let best = load<f32>(z);
    let arg: usize = 0;
    for (let o: usize = 1; o < 10; o++) {
      const v = load<f32>(z + o * 4);
      if (v > best) {
        best = v;
        arg = o;
      }
    }
    let sum: f32 = 0;
    for (let o: usize = 0; o < 10; o++) {
      const e = Mathf.exp(load<f32>(z + o * 4) - best);
      store<f32>(dz + o * 4, e);
      sum += e;
    }
    loss += <f64>(best + Mathf.log(sum) - load<f32>(z + label * 4));
    if (arg === label) correct++;
    const scale = invN / sum;
    for (let o: usize = 0; o < 10; o++) {
      store<f32>(dz + o * 4, load<f32>(dz + o * 4) * scale - (o === label ? invN : 0));
    }
    store<u64>(dz + 40, 0); // padding lanes 10, 11
  }
  lastCorrect = correct;
  return loss / <f64>n;
}

// ---- conv2 backward ----------------------------------------------------------------------

// With pool2's argmax addresses, the gradient of conv2's output is one value per pooled
// element, at a known window of pool1's output. Both conv2 gradients are sums over those
// 400 elements per sample instead of over all 1600 conv2 outputs.

const CHUNK: usize = 4; // samples per weight-gradient pass: their pool1 outputs stay in L1

/** dW2 += over samples [s0, s1): each pooled gradient times its 5 x 30 input window. */
function conv2WeightGrad(s0: usize, s1: usize): void {
  const first = s0 * P2;
  const last = s1 * P2;
  for (let co: usize = 0; co < 16; co++) {
    for (let kh: usize = 0; kh < 5; kh++) {
      // One (channel, kernel row) at a time: its 30 (+2 padding) weights fit 8 accumulators.
      const acc = dw2t + (co * 5 + kh) * 128;
      let c0 = v128.load(acc);
      let c1 = v128.load(acc, 16);
      let c2 = v128.load(acc, 32);
      let c3 = v128.load(acc, 48);
      let c4 = v128.load(acc, 64);
      let c5 = v128.load(acc, 80);
      let c6 = v128.load(acc, 96);
      let c7 = v128.load(acc, 112);
      const rowOff = kh * P1_ROW;
      for (let e = first + co * 4; e < last; e += 64) {
        const src = <usize>load<u32>(idx2Buf + e) + rowOff;
        const g = v128.load32_splat(dp2Buf + e);
        c0 = madd(g, v128.load(src), c0);
        c1 = madd(g, v128.load(src, 16), c1);
        c2 = madd(g, v128.load(src, 32), c2);
        c3 = madd(g, v128.load(src, 48), c3);
        c4 = madd(g, v128.load(src, 64), c4);
        c5 = madd(g, v128.load(src, 80), c5);
        c6 = madd(g, v128.load(src, 96), c6);
        c7 = madd(g, v128.load(src, 112), c7);
      }
      v128.store(acc, c0);
      v128.store(acc, c1, 16);
      v128.store(acc, c2, 32);
      v128.store(acc, c3, 48);
      v128.store(acc, c4, 64);
      v128.store(acc, c5, 80);
      v128.store(acc, c6, 96);
      v128.store(acc, c7, 112);
    }
  }
}

/** Gradient of pool1's output for sample s, ReLU-masked, into dp1Buf. */
function conv2InputGrad(s: usize): void {
  memory.fill(dp1Even, 0, 2 * DP1_SCRATCH);
  const base = p1Buf + s * P1;
  const first = s * P2;
  for (let e: usize = 0; e < P2; e += 4) {
    const off = <usize>load<u32>(idx2Buf + first + e) - base;
    const g = v128.load32_splat(dp2Buf + first + e);
    let dst = dp1Even + off + ((off & 8) >> 3) * (DP1_SCRATCH + 8);
    let wt = w2t + (e & 63) * 160; // channel (e/4)%16, 640 bytes each
    const end = wt + 640;
    while (wt < end) {
      v128.store(dst, madd(g, v128.load(wt), v128.load(dst)));
      v128.store(dst, madd(g, v128.load(wt, 16), v128.load(dst, 16)), 16);
      v128.store(dst, madd(g, v128.load(wt, 32), v128.load(dst, 32)), 32);
      v128.store(dst, madd(g, v128.load(wt, 48), v128.load(dst, 48)), 48);
      v128.store(dst, madd(g, v128.load(wt, 64), v128.load(dst, 64)), 64);
      v128.store(dst, madd(g, v128.load(wt, 80), v128.load(dst, 80)), 80);
      v128.store(dst, madd(g, v128.load(wt, 96), v128.load(dst, 96)), 96);
      v128.store(dst, madd(g, v128.load(wt, 112), v128.load(dst, 112)), 112);
      dst += P1_ROW;
      wt += 128;
    }
  }
  const out = dp1Buf + s * P1;
  for (let b: usize = 0; b < P1; b += 16) {
    const g = f32x4.add(v128.load(dp1Even + b), v128.load(dp1Odd + b, 8));
    v128.store(out + b, reluMask(g, v128.load(base + b)));
  }
}

function conv2Backward(n: usize): void {
  // Transpose conv2's weights to [co][kh][30 (+2 zero)] for conv2InputGrad.
  const w = paramsPtr + C2W;
  for (let co: usize = 0; co < 16; co++) {
    for (let kh: usize = 0; kh < 5; kh++) {
      for (let t: usize = 0; t < 30; t++) {
        store<f32>(
          w2t + ((co * 5 + kh) * 32 + t) * 4,
          load<f32>(w + ((kh * 30 + t) * 16 + co) * 4),
        );
      }
    }
  }
  memory.fill(dw2t, 0, W2T_BYTES);
  for (let s0: usize = 0; s0 < n; s0 += CHUNK) {
    const s1 = min(n, s0 + CHUNK);
    conv2WeightGrad(s0, s1);
    for (let s = s0; s < s1; s++) conv2InputGrad(s);
  }
  const gw = gradsPtr + C2W;
  for (let co: usize = 0; co < 16; co++) {
    for (let kh: usize = 0; kh < 5; kh++) {
      for (let t: usize = 0; t < 30; t++) {
        store<f32>(
          gw + ((kh * 30 + t) * 16 + co) * 4,
          load<f32>(dw2t + ((co * 5 + kh) * 32 + t) * 4),
        );
      }
    }
  }
  let b0 = f32x4.splat(0);
  let b1 = b0;
  let b2 = b0;
  let b3 = b0;
  for (let p = dp2Buf; p < dp2Buf + n * P2; p += 64) {
    b0 = f32x4.add(b0, v128.load(p));
    b1 = f32x4.add(b1, v128.load(p, 16));
    b2 = f32x4.add(b2, v128.load(p, 32));
    b3 = f32x4.add(b3, v128.load(p, 48));
  }
  const gb = gradsPtr + C2B;
  v128.store(gb, b0);
  v128.store(gb, b1, 16);
  v128.store(gb, b2, 32);
  v128.store(gb, b3, 48);
}

// ---- conv1 backward ----------------------------------------------------------------------

// Same idea as conv2: each pooled gradient multiplies the 5x5 input patch at its argmax pixel.
// A patch row is read as 8 floats (5 used) so 10 accumulators cover one output channel.

function conv1Backward(n: usize): void {
  memory.fill(dw1t, 0, DW1T_BYTES);
  for (let s: usize = 0; s < n; s++) {
    const idx = idx1Buf + s * IDX1;
    const grad = dp1Buf + s * P1;
    for (let co: usize = 0; co < 6; co++) {
      const acc = dw1t + co * 160;
      let c0 = v128.load(acc);
      let c1 = v128.load(acc, 16);
      let c2 = v128.load(acc, 32);
      let c3 = v128.load(acc, 48);
      let c4 = v128.load(acc, 64);
      let c5 = v128.load(acc, 80);
      let c6 = v128.load(acc, 96);
      let c7 = v128.load(acc, 112);
      let c8 = v128.load(acc, 128);
      let c9 = v128.load(acc, 144);
      let pi = idx + co * 4;
      let pg = grad + co * 4;
      const end = pg + P1;
      while (pg < end) {
        const src = <usize>load<u32>(pi);
        const g = v128.load32_splat(pg);
        c0 = madd(g, v128.load(src), c0);
        c1 = madd(g, v128.load(src, 16), c1);
        c2 = madd(g, v128.load(src, 128), c2);
        c3 = madd(g, v128.load(src, 144), c3);
        c4 = madd(g, v128.load(src, 256), c4);
        c5 = madd(g, v128.load(src, 272), c5);
        c6 = madd(g, v128.load(src, 384), c6);
        c7 = madd(g, v128.load(src, 400), c7);
        c8 = madd(g, v128.load(src, 512), c8);
        c9 = madd(g, v128.load(src, 528), c9);
        pi += 32;
        pg += 24;
      }
      v128.store(acc, c0);
      v128.store(acc, c1, 16);
      v128.store(acc, c2, 32);
      v128.store(acc, c3, 48);
      v128.store(acc, c4, 64);
      v128.store(acc, c5, 80);
      v128.store(acc, c6, 96);
      v128.store(acc, c7, 112);
      v128.store(acc, c8, 128);
      v128.store(acc, c9, 144);
    }
  }
  const gw = gradsPtr + C1W;
  for (let k: usize = 0; k < 25; k++) {
    const kh = k / 5;
    const kw = k % 5;
    for (let co: usize = 0; co < 8; co++) {
      const v = co < 6 ? load<f32>(dw1t + ((co * 5 + kh) * 8 + kw) * 4) : 0;
      store<f32>(gw + (k * 8 + co) * 4, v);
    }
  }
  // Bias: per-channel sums of the NHWC gradient; 12 floats = 2 pixels = 3 vectors per step.
  let a = f32x4.splat(0);
  let b = a;
  let c = a;
  for (let p = dp1Buf; p < dp1Buf + n * P1; p += 48) {
    a = f32x4.add(a, v128.load(p));
    b = f32x4.add(b, v128.load(p, 16));
    c = f32x4.add(c, v128.load(p, 32));
  }
  const gb = gradsPtr + C1B;
  store<f32>(gb, f32x4.extract_lane(a, 0) + f32x4.extract_lane(b, 2));
  store<f32>(gb, f32x4.extract_lane(a, 1) + f32x4.extract_lane(b, 3), 4);
  store<f32>(gb, f32x4.extract_lane(a, 2) + f32x4.extract_lane(c, 0), 8);
  store<f32>(gb, f32x4.extract_lane(a, 3) + f32x4.extract_lane(c, 1), 12);
  store<f32>(gb, f32x4.extract_lane(b, 0) + f32x4.extract_lane(c, 2), 16);
  store<f32>(gb, f32x4.extract_lane(b, 1) + f32x4.extract_lane(c, 3), 20);
  store<u64>(gb, 0, 24);
}

// ---- Adam --------------------------------------------------------------------------------

/**
 * One Adam update of every parameter; `bc1`, `bc2` are 1 - beta^t for the current step t.
 * `decay` is AdamW's decoupled weight decay as PyTorch applies it, p = p * (1 - lr * wd) before
 * the Adam step; 1 (no decay) takes the plain loop, so Adam without weight decay computes
 * exactly what it did before weight decay existed. The padding stays zero either way.
 */
function adam(lr: f32, beta1: f32, beta2: f32, eps: f32, bc1: f32, bc2: f32, decay: f32): void {
  const b1 = f32x4.splat(beta1);
  const b2 = f32x4.splat(beta2);
  const c1 = f32x4.splat(1 - beta1);
  const c2 = f32x4.splat(1 - beta2);
  const step = f32x4.splat(lr / bc1);
  const inv2 = f32x4.splat(1 / bc2);
  const e = f32x4.splat(eps);
  if (decay === 1) {
    for (let o: usize = 0; o < PARAMS; o += 16) {
      const g = v128.load(gradsPtr + o);
      const m = madd(b1, v128.load(adamM + o), f32x4.mul(c1, g));
      const v = madd(b2, v128.load(adamV + o), f32x4.mul(c2, f32x4.mul(g, g)));
      v128.store(adamM + o, m);
      v128.store(adamV + o, v);
      const den = f32x4.add(f32x4.sqrt(f32x4.mul(v, inv2)), e);
      const p = paramsPtr + o;
      v128.store(p, f32x4.sub(v128.load(p), f32x4.div(f32x4.mul(step, m), den)));
    }
    return;
  }
  const d = f32x4.splat(decay);
  for (let o: usize = 0; o < PARAMS; o += 16) {
    const g = v128.load(gradsPtr + o);
    const m = madd(b1, v128.load(adamM + o), f32x4.mul(c1, g));
    const v = madd(b2, v128.load(adamV + o), f32x4.mul(c2, f32x4.mul(g, g)));
    v128.store(adamM + o, m);
    v128.store(adamV + o, v);
    const den = f32x4.add(f32x4.sqrt(f32x4.mul(v, inv2)), e);
    const p = paramsPtr + o;
    // Rounded after the multiply, like PyTorch's p.mul_(1 - lr * wd) and the tfjs engine.
    const decayed = f32x4.mul(v128.load(p), d);
    v128.store(p, f32x4.sub(decayed, f32x4.div(f32x4.mul(step, m), den)));
  }
}

// ---- Entry points ------------------------------------------------------------------------

// The stages are exported separately only so that a profiler can time them; trainStep and
// forward are the real entry points and call them in this order.

export function stageConv1(n: i32): void {
  conv1Kernel();
  for (let s: usize = 0; s < <usize>n; s++) conv1Forward(s);
}
export function stageConv2(n: i32): void {
  for (let s: usize = 0; s < <usize>n; s++) conv2Forward(s);
}
/** forward's conv2 + pool2: Winograd (conv2Winograd), no argmax records. */
export function stageConv2Winograd(n: i32): void {
  winogradFilters();
  for (let s: usize = 0; s < <usize>n; s++) conv2Winograd(s);
}
export function stageDense(n: i32): void {
  const m = <usize>n;
  denseForward(p2Buf, 400, paramsPtr + F1W, paramsPtr + F1B, h1Buf, 120, m, true);
  denseForward(h1Buf, 120, paramsPtr + F2W, paramsPtr + F2B, h2Buf, 84, m, true);
  denseForward(h2Buf, 84, paramsPtr + F3W, paramsPtr + F3B, zBuf, 12, m, false);
}
export function stageLoss(n: i32): f64 {
  return lossAndGrad(<usize>n);
}
export function stageDenseBackward(n: i32): void {
  const m = <usize>n;
  const g = gradsPtr;
  denseGradWeights(h2Buf, 84, dzBuf, 12, m, g + F3W, g + F3B);
  denseGradInput(dzBuf, 12, paramsPtr + F3W, 84, m, dh2Buf, h2Buf);
  denseGradWeights(h1Buf, 120, dh2Buf, 84, m, g + F2W, g + F2B);
  denseGradInput(dh2Buf, 84, paramsPtr + F2W, 120, m, dh1Buf, h1Buf);
  denseGradWeights(p2Buf, 400, dh1Buf, 120, m, g + F1W, g + F1B);
  denseGradInput(dh1Buf, 120, paramsPtr + F1W, 400, m, dp2Buf, 0);
}
export function stageConv2Backward(n: i32): void {
  conv2Backward(<usize>n);
}
export function stageConv1Backward(n: i32): void {
  conv1Backward(<usize>n);
}
export function stageAdam(
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  bc1: f32,
  bc2: f32,
  decay: f32,
): void {
  adam(lr, beta1, beta2, eps, bc1, bc2, decay);
}

/**
 * One training step on the n staged samples (`decay`: see adam()): returns the mean loss, or
 * NaN without updating anything when the loss or a gradient is not finite; correctCount() gives
 * the number of correct predictions and storeParams(1) the gradients.
 */
export function trainStep(
  n: i32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  bc1: f32,
  bc2: f32,
  updateBound: f32,
  decay: f32,
): f64 {
  stageConv1(n);
  stageConv2(n);
  stageDense(n);
  const loss = stageLoss(n);
  stageDenseBackward(n);
  stageConv2Backward(n);
  stageConv1Backward(n);
  // A diverged step leaves parameters and Adam's state as they were, so the caller keeps the
  // last finite model; NaN tells it so.
  if (!isFinite(loss) || !stageAdamGuarded(lr, beta1, beta2, eps, bc1, bc2, updateBound, decay)) {
    return NaN;
  }
  return loss;
}

/**
 * Adam (AdamW when `decay` < 1, see adam()), unless a gradient is not finite or the update
 * would leave a parameter or a moment non-finite: then it changes nothing and returns false.
 * `updateBound` is the caller's bound on any parameter's step (lr·sqrt(bc2)/bc1 times Adam's
 * ratio bound; +Inf when there is none). Only when that bound or a gradient is huge (or not
 * finite) does it spend a dry pass proving the update finite; ordinary steps cost one cheap
 * pass over the gradients.
 */
export function stageAdamGuarded(
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  bc1: f32,
  bc2: f32,
  updateBound: f32,
  decay: f32,
): bool {
  if (
    (updateBound > 1e30 || !gradientsOrdinary()) &&
    !adamStaysFinite(lr, beta1, beta2, eps, bc1, bc2, decay)
  ) {
    return false;
  }
  adam(lr, beta1, beta2, eps, bc1, bc2, decay);
  return true;
}

/**
 * Whether every gradient is finite and at most 1e15 in size: |g| <= 1e15 is false for NaN and
 * ±Inf, so one compare per lane decides (a NaN-propagating max costs several instructions).
 */
function gradientsOrdinary(): bool {
  const limit = f32x4.splat(1e15);
  let ok = i32x4.splat(-1);
  for (let o: usize = 0; o < PARAMS; o += 16) {
    ok = v128.and(ok, f32x4.le(f32x4.abs(v128.load(gradsPtr + o)), limit));
  }
  return i32x4.all_true(ok);
}

/** Adam's arithmetic without storing anything: whether every new moment and parameter is finite. */
function adamStaysFinite(
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  bc1: f32,
  bc2: f32,
  decay: f32,
): bool {
  const d = f32x4.splat(decay);
  const b1 = f32x4.splat(beta1);
  const b2 = f32x4.splat(beta2);
  const c1 = f32x4.splat(1 - beta1);
  const c2 = f32x4.splat(1 - beta2);
  const step = f32x4.splat(lr / bc1);
  const inv2 = f32x4.splat(1 / bc2);
  const e = f32x4.splat(eps);
  let acc = f32x4.splat(0);
  for (let o: usize = 0; o < PARAMS; o += 16) {
    const g = v128.load(gradsPtr + o);
    const m = madd(b1, v128.load(adamM + o), f32x4.mul(c1, g));
    const v = madd(b2, v128.load(adamV + o), f32x4.mul(c2, f32x4.mul(g, g)));
    const den = f32x4.add(f32x4.sqrt(f32x4.mul(v, inv2)), e);
    const p = f32x4.sub(f32x4.mul(v128.load(paramsPtr + o), d), f32x4.div(f32x4.mul(step, m), den));
    // x - x is 0 for finite x and NaN otherwise.
    acc = f32x4.add(acc, f32x4.add(f32x4.sub(p, p), f32x4.add(f32x4.sub(m, m), f32x4.sub(v, v))));
  }
  return !v128.any_true(f32x4.ne(acc, acc));
}

/** Logits of the n staged images into logitsPtr(), [n][10]. */
export function forward(n: i32): void {
  stageConv1(n);
  stageConv2Winograd(n);
  stageDense(n);
  for (let s: usize = 0; s < <usize>n; s++) {
    memory.copy(logitBuf + s * LOGITS, zBuf + s * Z, LOGITS);
  }
}

// ---- Data-parallel training (src/engine/fused/workers.ts) ------------------------------

// A data-parallel step splits a batch over several instances of this module: each runs
// gradientStep on its share, one of them sums the gradients (weighted by share sizes, as each
// is a mean over its share) into gradientsAddress() and runs stageAdam. Parameters and
// gradients travel between instances in the internal layout, parameterBytes() long.

/** Address of the parameters in the internal (padded) layout. */
export function parametersAddress(): usize {
  return paramsPtr;
}
/** Address of the last step's gradients, in the same layout as the parameters. */
export function gradientsAddress(): usize {
  return gradsPtr;
}
/** Size in bytes of the internal parameter (and gradient) layout. */
export function parameterBytes(): usize {
  return PARAMS;
}

/** Where another instance's gradients go for mixGradients, parameterBytes() long. */
export function peerGradientsAddress(): usize {
  return peerGrads;
}

/** gradients = selfWeight * gradients + peerWeight * (the gradients at peerGradientsAddress()). */
export function mixGradients(selfWeight: f32, peerWeight: f32): void {
  const a = f32x4.splat(selfWeight);
  const b = f32x4.splat(peerWeight);
  for (let o: usize = 0; o < PARAMS; o += 16) {
    const p = gradsPtr + o;
    v128.store(p, f32x4.add(f32x4.mul(a, v128.load(p)), f32x4.mul(b, v128.load(peerGrads + o))));
  }
}

/** trainStep without the Adam update: returns the mean loss and leaves the gradients. */
export function gradientStep(n: i32): f64 {
  stageConv1(n);
  stageConv2(n);
  stageDense(n);
  const loss = stageLoss(n);
  stageDenseBackward(n);
  stageConv2Backward(n);
  stageConv1Backward(n);
  return loss;
}
