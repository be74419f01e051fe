// Generic fused kernels for the sequential networks the factories build (every LeNet variant and
// every MLP): 5x5 valid convolutions (any channel counts), 2x2 max/avg pooling, dense layers,
// ReLU/tanh, softmax cross-entropy over 10 classes and Adam/AdamW. One call runs a whole
// training step (forward, backward, Adam) or a whole forward pass over a batch. Built twice by
// scripts/build-wasm.mjs (net-simd.wasm, net-relaxed-simd.wasm); src/engine/fused/net-kernels.ts
// is the only caller and owns the ABI below. The default LeNet keeps its hand-tuned asm/lenet.ts.
//
// ABI: write the layer table at tablePtr() (TABLE_FIELDS i32 per layer: type, activation, pool
// mode, input side, input channels, output channels, input groups for a dense layer) and call
// configure(layers, inputSide, inputChannels): it computes every layer's shapes and parameter
// offsets into the table (read back by the wrapper) and returns false when they do not fit
// together. Then reserve(capacity) before any call with more samples (it lays out the batch
// buffers and grows memory, which detaches JS views). Parameters, gradients and Adam's moments
// are four blocks of parameterBytes() at paramsAddress(), gradientsAddress(), firstMomentAddress()
// and secondMomentAddress(), each in the internal layout: tfjs layouts with every output width
// (and every input width other than the image's) rounded up to a multiple of 4, so every row is
// whole vectors. The padding is zero, its gradient is zero, so Adam leaves it zero. The wrapper
// converts from and to tfjs layouts itself. Write images to inputPtr() (NHWC, the image's
// channels unpadded) and labels to labelsPtr(); call trainStep() or forward().
//
// Method: convolutions are im2col + a register-blocked GEMM (4 rows x 8 columns, 8 accumulators),
// over the whole batch at once; their backward pass is a transposed GEMM for the weights and a
// GEMM against the transposed weights plus col2im for the input. Activations are NHWC with
// channels padded to 4. All addresses are byte addresses in linear memory.

// ---- Layer table -------------------------------------------------------------------------

const MAX_LAYERS: i32 = 24;
const TABLE_FIELDS: usize = 24;

// Set by the wrapper before configure():
const F_TYPE: usize = 0; // 0 conv 5x5 valid, 1 pool 2x2, 2 dense
const F_ACT: usize = 1; // 0 none, 1 relu, 2 tanh
const F_MODE: usize = 2; // pool: 0 max, 1 avg
const F_OUT: usize = 3; // conv: output channels; dense: output units
// Computed by configure():
const F_IN_SIDE: usize = 4; // spatial side of the input (1 for dense)
const F_IN_C: usize = 5; // padded channels (floats per pixel) of the input
const F_OUT_SIDE: usize = 6;
const F_OUT_CP: usize = 7; // padded output channels / units
const F_K: usize = 8; // conv: 25 * input channels (unpadded); dense: input floats per sample
const F_IN_SIZE: usize = 9; // input floats per sample
const F_OUT_SIZE: usize = 10; // output floats per sample
const F_W: usize = 11; // byte offset of the weights in a parameter block ([K][outCP])
const F_B: usize = 12; // byte offset of the bias ([outCP])
const F_OUT_BUF: usize = 13; // batch buffers (set by reserve)
const F_COL_BUF: usize = 14; // conv: im2col rows [n * outSide²][K]; pool max: winners
const F_IN_C_REAL: usize = 15; // channels of the input before padding
const F_LDA: usize = 16; // conv: floats per im2col row (K rounded up to 4); dense: K

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

const KERNEL: usize = 5;
const CLASSES: usize = 10;

function alignUp(p: usize): usize {
  return (p + 63) & ~(<usize>63);
}

const tableBase: usize = alignUp(__heap_base);
const fixedEnd: usize = alignUp(tableBase + <usize>MAX_LAYERS * TABLE_FIELDS * 4);

function field(l: i32, f: usize): usize {
  return <usize>load<i32>(tableBase + (<usize>l * TABLE_FIELDS + f) * 4);
}
function setField(l: i32, f: usize, v: usize): void {
  store<i32>(tableBase + (<usize>l * TABLE_FIELDS + f) * 4, <i32>v);
}

let layerCount: i32 = 0;
let paramBytes: usize = 0;
let paramsPtr: usize = 0;
let gradsPtr: usize = 0;
let adamM: usize = 0;
let adamV: usize = 0;
let peerGrads: usize = 0; // another instance's gradients, for mixGradients
let wtPtr: usize = 0; // transposed weights of one layer, for input gradients
let batchBase: usize = 0; // end of the fixed memory configure() laid out
let batchStart: usize = 0; // where the batch buffers start: batchBase, or past a bound set
let imageFloats: usize = 0;
let inputSide: i32 = 0; // side of the (single-channel, square) input, for distortBatch
let lastCorrect: i32 = 0;

function roundUp4(v: usize): usize {
  return (v + 3) & ~(<usize>3);
}

export function tablePtr(): usize {
  return tableBase;
}

/**
 * Derives every layer's shapes and parameter offsets from the table's types, activations and
 * output widths, for an input of `side`² pixels with `channels` channels. Returns false when the
 * layers do not fit together (the wrapper checks before, so this is a safety net).
 */
export function configure(layers: i32, side: i32, channels: i32): bool {
  if (layers < 1 || layers > MAX_LAYERS) return false;
  let s = <usize>side;
  let c = <usize>channels; // floats per pixel of the current activation
  let cReal = <usize>channels;
  let spatial = true;
  let offset: usize = 0;
  let wtBytes: usize = 0;
  for (let l: i32 = 0; l < layers; l++) {
    const type = field(l, F_TYPE);
    setField(l, F_IN_SIDE, spatial ? s : 1);
    setField(l, F_IN_C, c);
    setField(l, F_IN_C_REAL, cReal);
    setField(l, F_IN_SIZE, spatial ? s * s * c : c);
    if (type === 0) {
      if (!spatial || s < KERNEL) return false;
      const out = field(l, F_OUT);
      const outCP = roundUp4(out);
      // The windows hold only the real channels: no multiply-adds on the padding.
      const k = KERNEL * KERNEL * cReal;
      const lda = roundUp4(k);
      s = s - KERNEL + 1;
      setField(l, F_K, k);
      setField(l, F_LDA, lda);
      setField(l, F_OUT_SIDE, s);
      setField(l, F_OUT_CP, outCP);
      setField(l, F_W, offset);
      offset += k * outCP * 4;
      setField(l, F_B, offset);
      offset += outCP * 4;
      wtBytes = max(wtBytes, lda * outCP * 4);
      c = outCP;
      cReal = out;
    } else if (type === 1) {
      if (!spatial || s < 2 || (s & 1) !== 0 || (c & 3) !== 0) return false;
      s = s >> 1;
      setField(l, F_OUT_SIDE, s);
      setField(l, F_OUT_CP, c);
      setField(l, F_K, 0);
    } else {
      const inFloats = spatial ? s * s * c : c;
      const out = field(l, F_OUT);
      const outCP = roundUp4(out);
      setField(l, F_K, inFloats);
      setField(l, F_LDA, inFloats);
      setField(l, F_OUT_SIDE, 1);
      setField(l, F_OUT_CP, outCP);
      setField(l, F_W, offset);
      offset += inFloats * outCP * 4;
      setField(l, F_B, offset);
      offset += outCP * 4;
      wtBytes = max(wtBytes, inFloats * outCP * 4);
      spatial = false;
      s = 1;
      c = outCP;
      cReal = out;
    }
    setField(l, F_OUT_SIZE, spatial ? s * s * c : c);
  }
  if (spatial || cReal !== CLASSES) return false;
  layerCount = layers;
  imageFloats = <usize>side * <usize>side * <usize>channels;
  inputSide = channels === 1 ? side : 0; // distortBatch distorts single-channel images only
  paramBytes = alignUp(offset);
  paramsPtr = fixedEnd;
  gradsPtr = paramsPtr + paramBytes;
  adamM = gradsPtr + paramBytes;
  adamV = adamM + paramBytes;
  peerGrads = adamV + paramBytes;
  wtPtr = peerGrads + paramBytes;
  batchBase = alignUp(wtPtr + wtBytes);
  batchStart = batchBase;
  clearSet();
  capacity = 0;
  const have = (<usize>memory.size()) << 16;
  if (batchBase > have && memory.grow(<i32>((batchBase - have + 0xffff) >> 16)) < 0) return false;
  memory.fill(paramsPtr, 0, 4 * paramBytes);
  return true;
}

export function paramsAddress(): usize {
  return paramsPtr;
}
export function gradientsAddress(): usize {
  return gradsPtr;
}
export function firstMomentAddress(): usize {
  return adamM;
}
export function secondMomentAddress(): usize {
  return adamV;
}
export function parameterBytes(): usize {
  return paramBytes;
}

// ---- Batch memory (laid out by reserve) --------------------------------------------------

// A batch goes through the layers in chunks of samples whose activations fit in cache
// (gradients accumulate over the chunks); a model without convolutions takes it in one chunk.
const CHUNK_BYTES: usize = 1 << 21;
let capacity: i32 = 0;
let chunk: usize = 0; // samples per pass through the layers
let xBuf: usize = 0; // [n][imageFloats]
let labelBuf: usize = 0; // [n] u8
let logitBuf: usize = 0; // [n][10]
let gradA: usize = 0; // gradient ping-pong buffers, [chunk][largest per-sample size]
let gradB: usize = 0;
let dzBuf: usize = 0; // [chunk][12]
let indexBuf: usize = 0; // [n] u32, a step's indices into the bound set
let augmentBuf: usize = 0; // [n][AUGMENT_PARAMS] f64, a step's distortions (asm/trainset.ts)
let framedBuf: usize = 0; // scratch of distortBatch: one image in a 1-pixel frame
let fieldBuf: usize = 0; // scratch of distortBatch: the elastic field

/** Bytes of activations one sample needs in the layers' buffers (a conv's im2col rows too). */
function sampleBytes(): usize {
  let bytes: usize = 0;
  for (let l: i32 = 0; l < layerCount; l++) {
    const side = field(l, F_OUT_SIDE);
    bytes += field(l, F_OUT_SIZE) * 4;
    if (field(l, F_TYPE) === 0) bytes += side * side * field(l, F_LDA) * 4;
  }
  return bytes;
}

/** Lays out buffers for `cap` samples and grows memory to fit; returns false if it cannot. */
export function reserve(cap: i32): bool {
  if (cap <= capacity) return true;
  const n = <usize>cap;
  chunk = min(n, max(<usize>4, CHUNK_BYTES / sampleBytes()));
  const c = chunk;
  let p = batchStart;
  xBuf = p;
  p = alignUp(p + n * imageFloats * 4);
  labelBuf = p;
  p = alignUp(p + n);
  logitBuf = p;
  p = alignUp(p + n * CLASSES * 4);
  indexBuf = p;
  p = alignUp(p + n * 4);
  augmentBuf = p;
  p = alignUp(p + n * AUGMENT_PARAMS * 8);
  framedBuf = p;
  p += augmentFramedBytes(<usize>inputSide);
  fieldBuf = p;
  p = alignUp(p + AUGMENT_FIELD_BYTES);
  let largest: usize = 16;
  for (let l: i32 = 0; l < layerCount; l++) {
    const outSize = field(l, F_OUT_SIZE);
    setField(l, F_OUT_BUF, p);
    p = alignUp(p + c * outSize * 4);
    largest = max(largest, max(outSize, field(l, F_IN_SIZE)));
    const type = field(l, F_TYPE);
    if (type === 0) {
      const rows = field(l, F_OUT_SIDE) * field(l, F_OUT_SIDE);
      setField(l, F_COL_BUF, p);
      p = alignUp(p + c * rows * field(l, F_LDA) * 4);
      largest = max(largest, rows * field(l, F_LDA));
    } else if (type === 1) {
      setField(l, F_COL_BUF, p);
      p = alignUp(p + c * outSize * 4);
    }
  }
  gradA = p;
  p = alignUp(p + c * largest * 4);
  gradB = p;
  p = alignUp(p + c * largest * 4);
  dzBuf = p;
  p = alignUp(p + c * 12 * 4);
  const have = (<usize>memory.size()) << 16;
  if (p > have && memory.grow(<i32>((p - have + 0xffff) >> 16)) < 0) return false;
  capacity = cap;
  return true;
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

// ---- The bound training set (asm/trainset.ts) ---------------------------------------------

/**
 * Makes room for a training set of `count` images (one byte per input float) before the batch
 * buffers (which move: call reserve again) and returns its base, where the caller writes the
 * normalisation table (256 f32), then the labels at setLabelsPtr() and the pixels at
 * setPixelsPtr(); 0 if memory cannot grow.
 */
export function bindSet(count: i32): usize {
  const bytes = setRegionBytes(<usize>count, imageFloats);
  const end = alignUp(batchBase + bytes);
  const have = (<usize>memory.size()) << 16;
  if (end > have && memory.grow(<i32>((end - have + 0xffff) >> 16)) < 0) return 0;
  placeSet(batchBase, <usize>count, imageFloats);
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
  return distortSet(xBuf, n, inputSide, augmentBuf, elastic, grid, framedBuf, fieldBuf);
}

/** Number of correct predictions in the last training step. */
export function correctCount(): i32 {
  return lastCorrect;
}

// ---- Vector helpers ----------------------------------------------------------------------

/** a*b + c: one fused instruction with relaxed SIMD, else a rounded multiply and an add. */
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * tanh as a rational function of x (Eigen's float approximation, a few ulp), clamped where
 * tanh rounds to ±1; below 4e-4 tanh(x) is x in float.
 */
function tanh4(v: v128): v128 {
  const bound = f32x4.splat(7.905311107635498);
  const x = f32x4.pmax(f32x4.pmin(v, bound), f32x4.neg(bound));
  const x2 = f32x4.mul(x, x);
  let p = madd(x2, f32x4.splat(-2.76076847742355e-16), f32x4.splat(2.00018790482477e-13));
  p = madd(x2, p, f32x4.splat(-8.60467152213735e-11));
  p = madd(x2, p, f32x4.splat(5.12229709037114e-8));
  p = madd(x2, p, f32x4.splat(1.48572235717979e-5));
  p = madd(x2, p, f32x4.splat(6.37261928875436e-4));
  p = madd(x2, p, f32x4.splat(4.89352455891786e-3));
  p = f32x4.mul(x, p);
  let q = madd(x2, f32x4.splat(1.19825839466702e-6), f32x4.splat(1.18534705686654e-4));
  q = madd(x2, q, f32x4.splat(2.268434632439e-3));
  q = madd(x2, q, f32x4.splat(4.89352518554385e-3));
  const r = f32x4.div(p, q);
  const tiny = f32x4.lt(f32x4.abs(v), f32x4.splat(0.0004));
  // NaN stays NaN (pmin/pmax keep it), so a diverging model shows a NaN loss.
  return v128.bitselect(v, r, tiny);
}

/** Applies activation `act` in place to `count` floats (a multiple of 4) at `p`. */
function activate(p: usize, count: usize, act: usize): void {
  if (act === 1) {
    const zero = f32x4.splat(0);
    for (let o: usize = 0; o < count * 4; o += 16) {
      v128.store(p + o, f32x4.pmax(v128.load(p + o), zero));
    }
  } else if (act === 2) {
    for (let o: usize = 0; o < count * 4; o += 16) v128.store(p + o, tanh4(v128.load(p + o)));
  }
}

/** g *= act'(y) in place, where y is the activation's output: ReLU 1 where y > 0, tanh 1 - y². */
function activationBackward(g: usize, y: usize, count: usize, act: usize): void {
  if (act === 1) {
    const zero = f32x4.splat(0);
    for (let o: usize = 0; o < count * 4; o += 16) {
      v128.store(g + o, v128.and(v128.load(g + o), f32x4.gt(v128.load(y + o), zero)));
    }
  } else if (act === 2) {
    const one = f32x4.splat(1);
    for (let o: usize = 0; o < count * 4; o += 16) {
      const t = v128.load(y + o);
      v128.store(g + o, f32x4.mul(v128.load(g + o), f32x4.sub(one, f32x4.mul(t, t))));
    }
  }
}

// ---- GEMM --------------------------------------------------------------------------------

/**
 * C[m][n] = A[m][k] · B[k][n] (+ bias[n] when `bias` is not 0), row-major with strides
 * `lda`, `n`, `n` floats; n is a multiple of 4. Tiles of 4 rows x 8 columns keep 8
 * accumulators in registers.
 */
function gemm(
  a: usize,
  lda: usize,
  b: usize,
  bias: usize,
  c: usize,
  m: usize,
  k: usize,
  n: usize,
): void {
  const rowA = lda * 4;
  const rowB = n * 4;
  const zero = f32x4.splat(0);
  let i: usize = 0;
  for (; i + 4 <= m; i += 4) {
    const a0 = a + i * rowA;
    let j: usize = 0;
    for (; j + 8 <= n; j += 8) {
      const bj = b + j * 4;
      const i0 = bias !== 0 ? v128.load(bias + j * 4) : zero;
      const i1 = bias !== 0 ? v128.load(bias + j * 4 + 16) : zero;
      let c00 = i0,
        c01 = i1,
        c10 = i0,
        c11 = i1,
        c20 = i0,
        c21 = i1,
        c30 = i0,
        c31 = i1;
      for (let t: usize = 0; t < k; t++) {
        const bp = bj + t * rowB;
        const b0 = v128.load(bp);
        const b1 = v128.load(bp, 16);
        const ap = a0 + t * 4;
        const x0 = v128.load32_splat(ap);
        const x1 = v128.load32_splat(ap + rowA);
        const x2 = v128.load32_splat(ap + 2 * rowA);
        const x3 = v128.load32_splat(ap + 3 * rowA);
        c00 = madd(x0, b0, c00);
        c01 = madd(x0, b1, c01);
        c10 = madd(x1, b0, c10);
        c11 = madd(x1, b1, c11);
        c20 = madd(x2, b0, c20);
        c21 = madd(x2, b1, c21);
        c30 = madd(x3, b0, c30);
        c31 = madd(x3, b1, c31);
      }
      const cp = c + (i * n + j) * 4;
      v128.store(cp, c00);
      v128.store(cp, c01, 16);
      v128.store(cp + rowB, c10);
      v128.store(cp + rowB, c11, 16);
      v128.store(cp + 2 * rowB, c20);
      v128.store(cp + 2 * rowB, c21, 16);
      v128.store(cp + 3 * rowB, c30);
      v128.store(cp + 3 * rowB, c31, 16);
    }
    for (; j < n; j += 4) {
      const bj = b + j * 4;
      const i0 = bias !== 0 ? v128.load(bias + j * 4) : zero;
      let c0 = i0,
        c1 = i0,
        c2 = i0,
        c3 = i0;
      for (let t: usize = 0; t < k; t++) {
        const b0 = v128.load(bj + t * rowB);
        const ap = a0 + t * 4;
        c0 = madd(v128.load32_splat(ap), b0, c0);
        c1 = madd(v128.load32_splat(ap + rowA), b0, c1);
        c2 = madd(v128.load32_splat(ap + 2 * rowA), b0, c2);
        c3 = madd(v128.load32_splat(ap + 3 * rowA), b0, c3);
      }
      const cp = c + (i * n + j) * 4;
      v128.store(cp, c0);
      v128.store(cp + rowB, c1);
      v128.store(cp + 2 * rowB, c2);
      v128.store(cp + 3 * rowB, c3);
    }
  }
  for (; i < m; i++) {
    const a0 = a + i * rowA;
    let j: usize = 0;
    for (; j + 8 <= n; j += 8) {
      const bj = b + j * 4;
      let c0 = bias !== 0 ? v128.load(bias + j * 4) : zero;
      let c1 = bias !== 0 ? v128.load(bias + j * 4 + 16) : zero;
      for (let t: usize = 0; t < k; t++) {
        const x = v128.load32_splat(a0 + t * 4);
        c0 = madd(x, v128.load(bj + t * rowB), c0);
        c1 = madd(x, v128.load(bj + t * rowB, 16), c1);
      }
      v128.store(c + (i * n + j) * 4, c0);
      v128.store(c + (i * n + j) * 4, c1, 16);
    }
    for (; j < n; j += 4) {
      const bj = b + j * 4;
      let c0 = bias !== 0 ? v128.load(bias + j * 4) : zero;
      for (let t: usize = 0; t < k; t++) {
        c0 = madd(v128.load32_splat(a0 + t * 4), v128.load(bj + t * rowB), c0);
      }
      v128.store(c + (i * n + j) * 4, c0);
    }
  }
}

/** Rows of A and D per pass of gemmTN: a chunk's rows stay in cache across its tiles. */
const TN_CHUNK: usize = 128;

/**
 * C[k][n] += Σ_i A[i][k] · D[i][n] over m rows (a weight gradient), strides `lda` and `n`
 * floats; n is a multiple of 4. The rows are taken in chunks (so each chunk is read from cache
 * by every tile), in tiles of 4 rows of C x 8 columns accumulated in registers.
 */
function gemmTN(a: usize, lda: usize, d: usize, c: usize, m: usize, k: usize, n: usize): void {
  for (let i0: usize = 0; i0 < m; i0 += TN_CHUNK) {
    const rows = min(TN_CHUNK, m - i0);
    gemmTNChunk(a + i0 * lda * 4, lda, d + i0 * n * 4, c, rows, k, n);
  }
}

/** C[k][n] += Σ_i A[i][k] · D[i][n] over m rows (see gemmTN). */
function gemmTNChunk(a: usize, lda: usize, d: usize, c: usize, m: usize, k: usize, n: usize): void {
  const rowA = lda * 4;
  const rowD = n * 4;
  let r: usize = 0;
  for (; r + 4 <= k; r += 4) {
    let j: usize = 0;
    for (; j + 8 <= n; j += 8) {
      const cp = c + (r * n + j) * 4;
      let c00 = v128.load(cp);
      let c01 = v128.load(cp, 16);
      let c10 = v128.load(cp + rowD);
      let c11 = v128.load(cp + rowD, 16);
      let c20 = v128.load(cp + 2 * rowD);
      let c21 = v128.load(cp + 2 * rowD, 16);
      let c30 = v128.load(cp + 3 * rowD);
      let c31 = v128.load(cp + 3 * rowD, 16);
      let ap = a + r * 4;
      let dp = d + j * 4;
      for (let i: usize = 0; i < m; i++) {
        const d0 = v128.load(dp);
        const d1 = v128.load(dp, 16);
        const x0 = v128.load32_splat(ap);
        const x1 = v128.load32_splat(ap, 4);
        const x2 = v128.load32_splat(ap, 8);
        const x3 = v128.load32_splat(ap, 12);
        c00 = madd(x0, d0, c00);
        c01 = madd(x0, d1, c01);
        c10 = madd(x1, d0, c10);
        c11 = madd(x1, d1, c11);
        c20 = madd(x2, d0, c20);
        c21 = madd(x2, d1, c21);
        c30 = madd(x3, d0, c30);
        c31 = madd(x3, d1, c31);
        ap += rowA;
        dp += rowD;
      }
      v128.store(cp, c00);
      v128.store(cp, c01, 16);
      v128.store(cp + rowD, c10);
      v128.store(cp + rowD, c11, 16);
      v128.store(cp + 2 * rowD, c20);
      v128.store(cp + 2 * rowD, c21, 16);
      v128.store(cp + 3 * rowD, c30);
      v128.store(cp + 3 * rowD, c31, 16);
    }
    for (; j < n; j += 4) {
      const cp = c + (r * n + j) * 4;
      let c0 = v128.load(cp);
      let c1 = v128.load(cp + rowD);
      let c2 = v128.load(cp + 2 * rowD);
      let c3 = v128.load(cp + 3 * rowD);
      let ap = a + r * 4;
      let dp = d + j * 4;
      for (let i: usize = 0; i < m; i++) {
        const d0 = v128.load(dp);
        c0 = madd(v128.load32_splat(ap), d0, c0);
        c1 = madd(v128.load32_splat(ap, 4), d0, c1);
        c2 = madd(v128.load32_splat(ap, 8), d0, c2);
        c3 = madd(v128.load32_splat(ap, 12), d0, c3);
        ap += rowA;
        dp += rowD;
      }
      v128.store(cp, c0);
      v128.store(cp + rowD, c1);
      v128.store(cp + 2 * rowD, c2);
      v128.store(cp + 3 * rowD, c3);
    }
  }
  for (; r < k; r++) {
    let j: usize = 0;
    for (; j + 8 <= n; j += 8) {
      const cp = c + (r * n + j) * 4;
      let c0 = v128.load(cp);
      let c1 = v128.load(cp, 16);
      let ap = a + r * 4;
      let dp = d + j * 4;
      for (let i: usize = 0; i < m; i++) {
        const x = v128.load32_splat(ap);
        c0 = madd(x, v128.load(dp), c0);
        c1 = madd(x, v128.load(dp, 16), c1);
        ap += rowA;
        dp += rowD;
      }
      v128.store(cp, c0);
      v128.store(cp, c1, 16);
    }
    for (; j < n; j += 4) {
      const cp = c + (r * n + j) * 4;
      let c0 = v128.load(cp);
      let ap = a + r * 4;
      let dp = d + j * 4;
      for (let i: usize = 0; i < m; i++) {
        c0 = madd(v128.load32_splat(ap), v128.load(dp), c0);
        ap += rowA;
        dp += rowD;
      }
      v128.store(cp, c0);
    }
  }
}

/** Adds the column sums of D[m][n] to c[n] (a bias gradient); n is a multiple of 4. */
function columnSums(d: usize, c: usize, m: usize, n: usize): void {
  for (let i: usize = 0; i < m; i++) {
    const row = d + i * n * 4;
    for (let j: usize = 0; j < n * 4; j += 16) {
      v128.store(c + j, f32x4.add(v128.load(c + j), v128.load(row + j)));
    }
  }
}

/** dst[j][r] = src[r][j] for src [k][n], dst rows `ldd` floats apart. */
function transpose(src: usize, dst: usize, k: usize, n: usize, ldd: usize): void {
  for (let r: usize = 0; r < k; r++) {
    for (let j: usize = 0; j < n; j++) {
      store<f32>(dst + (j * ldd + r) * 4, load<f32>(src + (r * n + j) * 4));
    }
  }
}

// ---- Layers ------------------------------------------------------------------------------

/**
 * Copies `bytes` rounded up to whole vectors: up to 12 bytes past the span are written (and read)
 * too. im2col writes its spans in order, so the next span overwrites that tail; the last span's
 * tail lands in the row's padding (lda = roundUp4(K) leaves exactly room for it, as 25 * real is
 * real mod 4), which no GEMM reads. Reads stay inside module memory: past a pixel's real
 * channels come its padding channels, past the last image of a batch the labels.
 */
function copyVectors(dst: usize, src: usize, bytes: usize): void {
  for (let o: usize = 0; o < bytes; o += 16) v128.store(dst + o, v128.load(src + o));
}

/**
 * Rows of the 5x5 windows of `n` NHWC inputs (c floats per pixel, the first `real` of them
 * channels): col[(s, oy, ox)][(ky, kx, channel)], rows `lda` floats apart. The row padding past
 * K holds whatever copyVectors left there.
 */
function im2col(
  x: usize,
  col: usize,
  n: usize,
  side: usize,
  c: usize,
  real: usize,
  lda: usize,
): void {
  const out = side - KERNEL + 1;
  const pixel = c * 4;
  const span = KERNEL * pixel; // one window row: 5 neighbouring pixels, contiguous in NHWC
  let row = col;
  for (let s: usize = 0; s < n; s++) {
    const img = x + s * side * side * pixel;
    for (let oy: usize = 0; oy < out; oy++) {
      for (let ox: usize = 0; ox < out; ox++) {
        const src = img + (oy * side + ox) * pixel;
        let dst = row;
        for (let ky: usize = 0; ky < KERNEL; ky++) {
          const line = src + ky * side * pixel;
          if (real === c) {
            copyVectors(dst, line, span);
            dst += span;
          } else {
            for (let kx: usize = 0; kx < KERNEL; kx++) {
              copyVectors(dst, line + kx * pixel, real * 4);
              dst += real * 4;
            }
          }
        }
        row += lda * 4;
      }
    }
  }
}

/** dx (zeroed first) += the 5x5 windows' gradients dcol, the inverse of im2col. */
function col2im(
  dcol: usize,
  dx: usize,
  n: usize,
  side: usize,
  c: usize,
  real: usize,
  lda: usize,
): void {
  const out = side - KERNEL + 1;
  const pixel = c * 4;
  const span = KERNEL * pixel;
  memory.fill(dx, 0, n * side * side * pixel);
  let row = dcol;
  for (let s: usize = 0; s < n; s++) {
    const img = dx + s * side * side * pixel;
    for (let oy: usize = 0; oy < out; oy++) {
      for (let ox: usize = 0; ox < out; ox++) {
        const base = img + (oy * side + ox) * pixel;
        let src = row;
        for (let ky: usize = 0; ky < KERNEL; ky++) {
          const line = base + ky * side * pixel;
          if (real === c) {
            addSpan(line, src, span);
            src += span;
          } else {
            for (let kx: usize = 0; kx < KERNEL; kx++) {
              addSpan(line + kx * pixel, src, real * 4);
              src += real * 4;
            }
          }
        }
        row += lda * 4;
      }
    }
  }
}

/** dst[i] += src[i] for `bytes` (a multiple of 4) bytes; only those bytes change. */
function addSpan(dst: usize, src: usize, bytes: usize): void {
  let o: usize = 0;
  for (; o + 16 <= bytes; o += 16) {
    v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  }
  for (; o < bytes; o += 4) store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
}

/**
 * 2x2 pooling of `n` NHWC inputs (c floats per pixel, a multiple of 4). Max pooling records
 * the byte offset (into x) of each output's winner, the first maximum in row-major window order
 * as tfjs picks it, so the backward pass sends each gradient to one input.
 */
function poolForward(
  x: usize,
  y: usize,
  win: usize,
  n: usize,
  side: usize,
  c: usize,
  avg: bool,
): void {
  const out = side >> 1;
  const pixel = c * 4;
  const row = side * pixel;
  const quarter = f32x4.splat(0.25);
  let dst: usize = 0;
  for (let s: usize = 0; s < n; s++) {
    const img = x + s * side * side * pixel;
    for (let oy: usize = 0; oy < out; oy++) {
      for (let ox: usize = 0; ox < out; ox++) {
        const p = img + (2 * oy * side + 2 * ox) * pixel;
        for (let o: usize = 0; o < pixel; o += 16) {
          const a = v128.load(p + o);
          const b = v128.load(p + o + pixel);
          const cc = v128.load(p + o + row);
          const d = v128.load(p + o + row + pixel);
          if (avg) {
            v128.store(y + dst, f32x4.mul(f32x4.add(f32x4.add(a, b), f32x4.add(cc, d)), quarter));
          } else {
            const base = i32x4.add(i32x4.splat(<i32>(p + o - x)), i32x4(0, 4, 8, 12));
            let m = a;
            let at = base;
            let gt = f32x4.gt(b, m);
            m = v128.bitselect(b, m, gt);
            at = v128.bitselect(i32x4.add(base, i32x4.splat(<i32>pixel)), at, gt);
            gt = f32x4.gt(cc, m);
            m = v128.bitselect(cc, m, gt);
            at = v128.bitselect(i32x4.add(base, i32x4.splat(<i32>row)), at, gt);
            gt = f32x4.gt(d, m);
            m = v128.bitselect(d, m, gt);
            at = v128.bitselect(i32x4.add(base, i32x4.splat(<i32>(row + pixel))), at, gt);
            v128.store(y + dst, m);
            v128.store(win + dst, at);
          }
          dst += 16;
        }
      }
    }
  }
}

/** The input gradient of poolForward: dy to each max pool winner, or a quarter to each input. */
function poolBackward(
  dy: usize,
  dx: usize,
  win: usize,
  n: usize,
  side: usize,
  c: usize,
  avg: bool,
): void {
  const outFloats = n * (side >> 1) * (side >> 1) * c;
  if (!avg) {
    memory.fill(dx, 0, n * side * side * c * 4);
    for (let i: usize = 0; i < outFloats; i++) {
      store<f32>(dx + <usize>load<i32>(win + i * 4), load<f32>(dy + i * 4));
    }
    return;
  }
  const out = side >> 1;
  const pixel = c * 4;
  const row = side * pixel;
  const quarter = f32x4.splat(0.25);
  let src = dy;
  for (let s: usize = 0; s < n; s++) {
    const img = dx + s * side * side * pixel;
    for (let oy: usize = 0; oy < out; oy++) {
      for (let ox: usize = 0; ox < out; ox++) {
        const p = img + (2 * oy * side + 2 * ox) * pixel;
        for (let o: usize = 0; o < pixel; o += 16) {
          const g = f32x4.mul(v128.load(src), quarter);
          v128.store(p + o, g);
          v128.store(p + o + pixel, g);
          v128.store(p + o + row, g);
          v128.store(p + o + row + pixel, g);
          src += 16;
        }
      }
    }
  }
}

/** The first sample of the chunk in the layers' buffers. */
let chunkStart: usize = 0;

function layerInput(l: i32): usize {
  return l === 0 ? xBuf + chunkStart * imageFloats * 4 : field(l - 1, F_OUT_BUF);
}

/** The layers' forward pass on the n samples of the chunk at chunkStart. */
function forwardLayers(n: usize): void {
  for (let l: i32 = 0; l < layerCount; l++) {
    const type = field(l, F_TYPE);
    const x = layerInput(l);
    const y = field(l, F_OUT_BUF);
    if (type === 0) {
      const col = field(l, F_COL_BUF);
      const side = field(l, F_IN_SIDE);
      const outSide = field(l, F_OUT_SIDE);
      const lda = field(l, F_LDA);
      im2col(x, col, n, side, field(l, F_IN_C), field(l, F_IN_C_REAL), lda);
      const rows = n * outSide * outSide;
      const cp = field(l, F_OUT_CP);
      gemm(
        col,
        lda,
        paramsPtr + field(l, F_W),
        paramsPtr + field(l, F_B),
        y,
        rows,
        field(l, F_K),
        cp,
      );
      activate(y, rows * cp, field(l, F_ACT));
    } else if (type === 1) {
      poolForward(
        x,
        y,
        field(l, F_COL_BUF),
        n,
        field(l, F_IN_SIDE),
        field(l, F_IN_C),
        field(l, F_MODE) === 1,
      );
    } else {
      const k = field(l, F_K);
      const cp = field(l, F_OUT_CP);
      gemm(x, k, paramsPtr + field(l, F_W), paramsPtr + field(l, F_B), y, n, k, cp);
      activate(y, n * cp, field(l, F_ACT));
    }
  }
}

/**
 * Summed softmax cross-entropy of the n samples of the chunk; writes d(mean loss)/d(logits)
 * into dzBuf (`invN`: 1 / the batch size) and adds the correct argmaxes to lastCorrect.
 */
function lossAndGrad(n: usize, invN: f32): f64 {
  const z0 = field(layerCount - 1, F_OUT_BUF);
  const stride: usize = 12 * 4; // 10 classes padded to 12
  let loss: f64 = 0;
  let correct = 0;
  for (let s: usize = 0; s < n; s++) {
    const z = z0 + s * stride;
    const dz = dzBuf + s * stride;
    const label = <usize>load<u8>(labelBuf + chunkStart + s);
    let best = load<f32>(z);
    let arg: usize = 0;
    for (let o: usize = 1; o < CLASSES; o++) {
      const v = load<f32>(z + o * 4);
      if (v > best) {
        best = v;
        arg = o;
      }
    }
    let sum: f32 = 0;
    for (let o: usize = 0; o < CLASSES; o++) {
      const e = Mathf.exp(load<f32>(z + o * 4) - best);
      store<f32>(dz + o * 4, e);
      sum += e;
    }
    loss += <f64>(best + Mathf.log(sum) - load<f32>(z + label * 4));
    if (arg === label) correct++;
    const scale = invN / sum;
    for (let o: usize = 0; o < CLASSES; o++) {
      store<f32>(dz + o * 4, load<f32>(dz + o * 4) * scale - (o === label ? invN : 0));
    }
    store<u64>(dz + 40, 0); // padding lanes 10, 11
  }
  lastCorrect += correct;
  return loss;
}

/** The gradient buffer that is not `b` (dzBuf counts as neither). */
function otherBuffer(b: usize): usize {
  return b === gradA ? gradB : gradA;
}

/** Adds the chunk's share of the mean loss's gradients, from dzBuf back through the layers. */
function backwardLayers(n: usize): void {
  let g = dzBuf; // gradient of the current layer's output
  for (let l: i32 = layerCount - 1; l >= 0; l--) {
    const type = field(l, F_TYPE);
    if (type === 1) {
      const dx = otherBuffer(g);
      poolBackward(
        g,
        dx,
        field(l, F_COL_BUF),
        n,
        field(l, F_IN_SIDE),
        field(l, F_IN_C),
        field(l, F_MODE) === 1,
      );
      g = dx;
      continue;
    }
    const cp = field(l, F_OUT_CP);
    const k = field(l, F_K);
    const lda = field(l, F_LDA);
    const rows = type === 0 ? n * field(l, F_OUT_SIDE) * field(l, F_OUT_SIDE) : n;
    const a = type === 0 ? field(l, F_COL_BUF) : layerInput(l);
    activationBackward(g, field(l, F_OUT_BUF), rows * cp, field(l, F_ACT));
    gemmTN(a, lda, g, gradsPtr + field(l, F_W), rows, k, cp);
    columnSums(g, gradsPtr + field(l, F_B), rows, cp);
    if (l === 0) break; // nothing needs the image's gradient
    // Wt [cp][lda]: the columns past k are zero, so d's rows are whole vectors.
    memory.fill(wtPtr, 0, cp * lda * 4);
    transpose(paramsPtr + field(l, F_W), wtPtr, k, cp, lda);
    const d = otherBuffer(g);
    gemm(g, cp, wtPtr, 0, d, rows, cp, lda);
    if (type === 2) {
      g = d;
    } else {
      // d holds the windows' gradients; col2im sums them into the input's gradient, in the
      // buffer g used (no longer needed), or the other one when g was the loss gradient.
      const dx = g === dzBuf ? otherBuffer(d) : g;
      col2im(d, dx, n, field(l, F_IN_SIDE), field(l, F_IN_C), field(l, F_IN_C_REAL), lda);
      g = dx;
    }
  }
}

// ---- Adam --------------------------------------------------------------------------------

/**
 * One Adam update of every parameter; `bc1`, `bc2` are 1 - beta^t for the current step t.
 * `decay` is AdamW's decoupled weight decay as PyTorch applies it, p = p * (1 - lr * wd) before
 * the Adam step (1: plain Adam, the same arithmetic as asm/lenet.ts).
 */
function adam(lr: f32, beta1: f32, beta2: f32, eps: f32, bc1: f32, bc2: f32, decay: f32): void {
  const b1 = f32x4.splat(beta1);
  const b2 = f32x4.splat(beta2);
  const c1 = f32x4.splat(1 - beta1);
  const c2 = f32x4.splat(1 - beta2);
  const step = f32x4.splat(lr / bc1);
  const inv2 = f32x4.splat(1 / bc2);
  const e = f32x4.splat(eps);
  const d = f32x4.splat(decay);
  const decayed = decay !== 1;
  for (let o: usize = 0; o < paramBytes; o += 16) {
    const g = v128.load(gradsPtr + o);
    const m = madd(b1, v128.load(adamM + o), f32x4.mul(c1, g));
    const v = madd(b2, v128.load(adamV + o), f32x4.mul(c2, f32x4.mul(g, g)));
    v128.store(adamM + o, m);
    v128.store(adamV + o, v);
    const den = f32x4.add(f32x4.sqrt(f32x4.mul(v, inv2)), e);
    const p = paramsPtr + o;
    // Rounded after the multiply, like PyTorch's p.mul_(1 - lr * wd) and the tfjs engine.
    const w = decayed ? f32x4.mul(v128.load(p), d) : v128.load(p);
    v128.store(p, f32x4.sub(w, f32x4.div(f32x4.mul(step, m), den)));
  }
}

/** Whether every gradient is finite and at most 1e15 in size (one compare per lane). */
function gradientsOrdinary(): bool {
  const limit = f32x4.splat(1e15);
  let ok = i32x4.splat(-1);
  for (let o: usize = 0; o < paramBytes; o += 16) {
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
  for (let o: usize = 0; o < paramBytes; o += 16) {
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

// ---- Entry points ------------------------------------------------------------------------

/**
 * Forward and backward on the n staged samples, without Adam: leaves the gradients of their mean
 * loss at gradientsAddress() and returns that mean loss.
 */
export function gradientStep(n: i32): f64 {
  const total = <usize>n;
  const invN = <f32>1 / <f32>total;
  memory.fill(gradsPtr, 0, paramBytes);
  lastCorrect = 0;
  let sum: f64 = 0;
  for (chunkStart = 0; chunkStart < total; chunkStart += chunk) {
    const m = min(chunk, total - chunkStart);
    forwardLayers(m);
    sum += lossAndGrad(m, invN);
    backwardLayers(m);
  }
  return sum / <f64>total;
}

/**
 * One Adam update with the gradients at gradientsAddress() (`decay`: see adam()), unless it
 * would leave a parameter or moment non-finite: then nothing changes and it returns false.
 * `updateBound` is the caller's bound on any parameter's step (+Inf when there is none); only
 * when it or a gradient is huge does the update spend a dry pass proving itself finite.
 */
export function adamGuarded(
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
 * One training step on the n staged samples (gradientStep, then adamGuarded): returns the mean
 * loss, or NaN without updating anything when the loss is not finite or adamGuarded refuses.
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
  const loss = gradientStep(n);
  if (!isFinite(loss) || !adamGuarded(lr, beta1, beta2, eps, bc1, bc2, updateBound, decay)) {
    return NaN;
  }
  return loss;
}

// ---- Data-parallel training (src/engine/fused/workers.ts) ------------------------------

// As in asm/lenet.ts: each instance runs gradientStep on its share of a batch, one of them sums
// the gradients (weighted by share sizes) with mixGradients and runs adamGuarded. Parameters and
// gradients travel between instances in the internal layout, parameterBytes() long.

/** Where another instance's gradients go for mixGradients, parameterBytes() long. */
export function peerGradientsAddress(): usize {
  return peerGrads;
}

/** gradients = selfWeight * gradients + peerWeight * (the gradients at peerGradientsAddress()). */
export function mixGradients(selfWeight: f32, peerWeight: f32): void {
  const a = f32x4.splat(selfWeight);
  const b = f32x4.splat(peerWeight);
  for (let o: usize = 0; o < paramBytes; o += 16) {
    const p = gradsPtr + o;
    v128.store(p, f32x4.add(f32x4.mul(a, v128.load(p)), f32x4.mul(b, v128.load(peerGrads + o))));
  }
}

/** Logits of the n staged images into logitsPtr(), [n][10]. */
export function forward(n: i32): void {
  const total = <usize>n;
  const z = field(layerCount - 1, F_OUT_BUF);
  for (chunkStart = 0; chunkStart < total; chunkStart += chunk) {
    const m = min(chunk, total - chunkStart);
    forwardLayers(m);
    for (let s: usize = 0; s < m; s++) {
      memory.copy(logitBuf + (chunkStart + s) * CLASSES * 4, z + s * 48, CLASSES * 4);
    }
  }
}
