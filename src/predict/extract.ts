/**
 * The photo pipeline: turns an RGBA or grayscale image of any size (a photo, a scan, a canvas
 * drawing) into an MNIST-style 28x28 digit, white on black, or reports that it holds none.
 *
 * Steps (ARCHITECTURE.md says why each one):
 * 1. Grayscale at a working resolution of at most {@link WORK_MAX} pixels a side (box-averaged),
 *    transparent pixels composited over white paper.
 * 2. Polarity from the image: the skewness of the pixels around coarse local means (ink is the
 *    sparse tail: dark ink skews negative, chalk positive), unless the caller forces it.
 * 3. Paper estimate: cell means on a grid, morphologically opened (the rolling-ball / top-hat
 *    background of document binarisation), so that gradients, vignettes and shadow steps are
 *    followed while strokes thinner than the structuring element are not.
 * 4. Ink signal: dark ink as a fraction of the local paper brightness (a shadow darkens paper
 *    and ink alike), light ink as its excess over the local board.
 * 5. Threshold: the paper's median plus several robust noise deviations (from the paper side of
 *    the histogram, which has no ink in it), with a floor on contrast.
 * 6. Connected components: specks removed, the digit is the heaviest component plus nearby
 *    pieces; none (or too small and faint) means `empty`.
 * 7. Stroke profile: a soft threshold at half the ink contrast, then area resampling, which is
 *    how MNIST's bilevel NIST digits got their anti-aliased grey edges; framed like MNIST.
 *
 * @module
 */
import { borderMean, describe, type ImageDataLike, InputError } from './image.js';

/** The longest working side: larger images are box-averaged down to it first. */
export const WORK_MAX = 320;

/**
 * What {@link extractDigit} found in an image.
 *
 * @example
 * ```ts
 * const { pixels, empty } = extractDigit(ctx.getImageData(0, 0, 640, 480));
 * if (!empty) show(pixels); // the 28x28 digit the model reads
 * ```
 */
export interface ExtractedDigit {
  /** The digit as the model reads it: 28x28 pixels, white on black, framed like MNIST. All 0 when `empty`. */
  pixels: Uint8Array;
  /** True when no digit was found: a blank sheet, a uniform or gradient background, paper noise. */
  empty: boolean;
  /** Which way the ink ran: decided from the image, or as forced by `invert`. */
  polarity: 'dark-on-light' | 'light-on-dark';
  /** The digit's bounding box in the input's pixels; `null` when `empty`. */
  box: { x: number; y: number; width: number; height: number } | null;
}

/**
 * Options of {@link extractDigit}.
 *
 * @example
 * ```ts
 * extractDigit(scan, { invert: true }); // dark ink on paper, whatever the image suggests
 * ```
 */
export interface ExtractOptions {
  /**
   * `true`: dark ink on light paper; `false`: light ink on a dark ground; `'auto'` (default):
   * decided from the image.
   */
  invert?: boolean | 'auto';
}

// Scratch reused by every call (extraction is synchronous, so one set serves all callers).
let gray = new Uint8Array(0);
/** Two sets of ink signal and component labels: one per polarity when both are tried. */
const slots = [
  { signal: new Int16Array(0), labels: new Int32Array(0) },
  { signal: new Int16Array(0), labels: new Int32Array(0) },
];
let parent = new Int32Array(0);
let crop = new Uint8Array(0);
let rowSums = new Float64Array(0);
const histogram = new Int32Array(511);

/** Cells per side of the opening's structuring element, each way from the centre. */
const OPEN_RADIUS = 5;
/** Below this skewness (of the pixels around their regions' means) polarity is unsure. */
const SURE_SKEW = 1;
/** How much more ink the polarity against the border's prior must find to win. */
const OTHER_POLARITY_MARGIN = 1.5;
/** The large opening's radius in cells (see paperGrid). */
const OPEN_RADIUS_LARGE = 12;
/** Levels by which the two openings must differ to count as shading or a blob. */
const SHADING_STEP = 12;
/** Cells along the longer working side. */
const CELLS = 40;
/** The least ink contrast (of 255) that counts as a digit's stroke. */
const MIN_CONTRAST = 24;
/** The least mean contrast (of 255) of a digit's main stroke: below it, shading or stains. */
const MIN_STROKE_CONTRAST = 56;
/** Noise deviations above the paper's median where the stroke's grey ramp starts. */
const RAMP_NOISE_K = 2;
/** Noise deviations above the paper's median that a stroke must reach. */
const NOISE_K = 5;

function grow<T extends Uint8Array | Int16Array | Int32Array>(
  a: T,
  n: number,
  make: (n: number) => T,
): T {
  return a.length >= n ? a : make(Math.max(n, a.length * 2));
}

/**
 * The pipeline on checked input: `data` holds `width * height` pixels of `channels` (4: RGBA,
 * 1: grayscale) bytes. Writes the 28x28 digit into `out` (zeroed first).
 */
export function extractInto(
  data: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  channels: 1 | 4,
  invert: boolean | 'auto',
  out: Uint8Array,
): Omit<ExtractedDigit, 'pixels'> {
  out.fill(0);
  // One element type in the hot loops, whichever array the caller has.
  const bytes =
    data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length);
  // 1. Working grayscale, box-averaged by an integer factor.
  const f = Math.max(1, Math.ceil(Math.max(width, height) / WORK_MAX));
  const ww = Math.max(1, Math.floor(width / f));
  const wh = Math.max(1, Math.floor(height / f));
  const n = ww * wh;
  gray = grow(gray, n, (k) => new Uint8Array(k));
  toWorkingGray(bytes, width, height, channels, f, ww, wh, gray);

  const moments = cellMoments(ww, wh);
  const { a, darkOnLight } = choosePolarity(ww, wh, moments, invert);
  const { median, sigma, picked, found, signal } = a;
  const polarity = darkOnLight ? 'dark-on-light' : 'light-on-dark';
  if (picked === null) return { empty: true, polarity, box: null };

  const { x0, y0, x1, y1 } = picked;
  strokeProfile(signal, ww, wh, median, sigma, picked, found.rootOf, out);
  const cw = x1 - x0 + 1;
  const ch = y1 - y0 + 1;
  return {
    empty: false,
    polarity,
    box: {
      x: x0 * f,
      y: y0 * f,
      width: Math.min(width - x0 * f, cw * f),
      height: Math.min(height - y0 * f, ch * f),
    },
  };
}

/** The cell grid over the working grayscale, with each cell's power sums (of 1, v, v^2, v^3). */
interface CellMoments extends CellGrid {
  cellSq: Float64Array;
  cellCube: Float64Array;
}

/** The cell grid and its sums (for the paper and the polarity), from the working grayscale. */
function cellMoments(ww: number, wh: number): CellMoments {
  const c = Math.max(2, Math.round(Math.max(ww, wh) / CELLS));
  const gw = Math.ceil(ww / c);
  const gh = Math.ceil(wh / c);
  const cellSum = new Float64Array(gw * gh);
  const cellSq = new Float64Array(gw * gh);
  const cellCube = new Float64Array(gw * gh);
  const cellCount = new Float64Array(gw * gh);
  for (let y = 0; y < wh; y++) {
    const row = ((y / c) | 0) * gw;
    const at = y * ww;
    for (let x = 0; x < ww; x++) {
      const v = gray[at + x] as number;
      const k = row + ((x / c) | 0);
      const v2 = v * v;
      cellSum[k] = (cellSum[k] as number) + v;
      cellSq[k] = (cellSq[k] as number) + v2;
      cellCube[k] = (cellCube[k] as number) + v2 * v;
      cellCount[k] = (cellCount[k] as number) + 1;
    }
  }
  return { c, gw, gh, cellSum, cellSq, cellCube, cellCount };
}

/**
 * 2. Polarity from the skew (third central moment) of the cells around coarse means, about 4x4
 * regions of the image: `darkOnLight` its sign, `sure` whether it is clear enough to trust.
 */
function skewPolarity({ gw, gh, cellSum, cellSq, cellCube, cellCount }: CellMoments): {
  darkOnLight: boolean;
  sure: boolean;
} {
  const span = Math.max(1, Math.ceil(Math.max(gw, gh) / 4));
  let m3 = 0;
  let m2 = 0;
  let total = 0;
  for (let sy = 0; sy < gh; sy += span) {
    for (let sx = 0; sx < gw; sx += span) {
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let cnt = 0;
      for (let y = sy; y < Math.min(gh, sy + span); y++) {
        for (let x = sx; x < Math.min(gw, sx + span); x++) {
          const k = y * gw + x;
          s1 += cellSum[k] as number;
          s2 += cellSq[k] as number;
          s3 += cellCube[k] as number;
          cnt += cellCount[k] as number;
        }
      }
      const mu = s1 / cnt;
      m3 += s3 - 3 * mu * s2 + 3 * mu * mu * s1 - cnt * mu * mu * mu;
      m2 += s2 - mu * s1;
      total += cnt;
    }
  }
  // Ink that fills much of a region (a thick digit filling the frame) or a big shadow weakens
  // or flips the skew: then the border gives a prior and both polarities are analysed.
  const sd = Math.sqrt(m2 / total);
  return { darkOnLight: m3 < 0, sure: sd > 0 && Math.abs(m3 / total) / (sd * sd * sd) > SURE_SKEW };
}

/**
 * Steps 2 to 6: the polarity (forced, or from the skew, or when that is unsure from the border
 * with both polarities analysed) and the analysis (steps 3 to 6) under it.
 */
function choosePolarity(
  ww: number,
  wh: number,
  moments: CellMoments,
  invert: boolean | 'auto',
): { a: Analysis; darkOnLight: boolean } {
  let { darkOnLight, sure } =
    invert === 'auto' ? skewPolarity(moments) : { darkOnLight: invert, sure: true };
  const { c, gw, gh, cellSum, cellCount } = moments;
  const cells = { c, gw, gh, cellSum, cellCount };
  if (!sure) darkOnLight = paperIsLight(gray, ww, wh);
  let a = analyse(ww, wh, cells, darkOnLight, 0);
  if (!sure) {
    // The border is only a prior: the other polarity wins if it finds clearly more ink (a big
    // shadow over the border). Not merely more: dark ink's signal is a ratio and light ink's a
    // difference, so the hole of a big light 0 can outweigh its ring by a little.
    const b = analyse(ww, wh, cells, !darkOnLight, 1);
    if ((b.picked?.mass ?? 0) > OTHER_POLARITY_MARGIN * (a.picked?.mass ?? 0)) {
      a = b;
      darkOnLight = !darkOnLight;
    }
  }
  return { a, darkOnLight };
}

/**
 * 7. Stroke profile: soft threshold at half the ink contrast, only on the digit's pixels and
 * their fringe (into the `crop` scratch); then framed like MNIST into `out`.
 */
function strokeProfile(
  signal: Int16Array,
  ww: number,
  wh: number,
  median: number,
  sigma: number,
  { x0, y0, x1, y1, keep }: Picked,
  rootOf: (p: number) => number,
  out: Uint8Array,
): void {
  const ink = inkLevel(signal, ww, x0, y0, x1, y1, keep, rootOf);
  const lo = median + Math.min(RAMP_NOISE_K * sigma, 0.5 * (ink - median));
  const span = Math.max(1, ink - lo);
  const cw = x1 - x0 + 1;
  const ch = y1 - y0 + 1;
  crop = grow(crop, cw * ch, (k) => new Uint8Array(k));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const p = y * ww + x;
      const s = signal[p] as number;
      let v = 0;
      if (s > lo && nearKept(p, x, y, ww, wh, keep, rootOf)) {
        const t = (s - lo) / span;
        v = t >= 1 ? 255 : Math.round(t * 255);
      }
      crop[(y - y0) * cw + (x - x0)] = v;
    }
  }
  frameCrop(crop, cw, ch, out);
}

/**
 * The prior polarity when the skew cannot tell (ink is not the minority everywhere: a thick
 * digit filling the frame, a big shadow): the picture's border is paper far more often than ink, so a
 * light border means dark ink. The middle of the range of the picture's own values is the
 * boundary, not a fixed 128, so grey paper under a shadow still counts as light.
 */
function paperIsLight(g: Uint8Array, ww: number, wh: number): boolean {
  let lo = 255;
  let hi = 0;
  for (let i = 0; i < ww * wh; i += 3) {
    const v = g[i] as number;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return borderMean(g, ww, wh) > (lo + hi) / 2;
}

/** What {@link analyse} found under one polarity. */
interface Analysis {
  median: number;
  sigma: number;
  found: Components;
  picked: Picked | null;
  signal: Int16Array;
}

interface CellGrid {
  c: number;
  gw: number;
  gh: number;
  cellSum: Float64Array;
  cellCount: Float64Array;
}

/**
 * Steps 3 to 6 for one polarity: the paper, the ink signal (into `signal`), the threshold and
 * the digit's components (labels into `labels`).
 */
function analyse(
  ww: number,
  wh: number,
  { c, gw, gh, cellSum, cellCount }: CellGrid,
  darkOnLight: boolean,
  slot: 0 | 1,
): Analysis {
  const n = ww * wh;
  const buffers = slots[slot] as (typeof slots)[0];
  buffers.signal = grow(buffers.signal, n, (k) => new Int16Array(k));
  buffers.labels = grow(buffers.labels, n, (k) => new Int32Array(k));
  const { signal, labels } = buffers;
  // 3. Paper: cell means with the ink pointing up, opened (min then max over the element).
  const paper = new Float32Array(gw * gh);
  for (let k = 0; k < paper.length; k++) {
    const mean = (cellSum[k] as number) / (cellCount[k] as number);
    paper[k] = darkOnLight ? 255 - mean : mean;
  }
  paperGrid(paper, gw, gh);

  // 4. Ink signal, from the paper interpolated between cell centres; its histogram. The grid
  // rows are interpolated along x once, then each pixel row blends two of them.
  histogram.fill(0);
  const rowsX = new Float32Array(gh * ww);
  for (let x = 0; x < ww; x++) {
    const t = Math.min(gw - 1, Math.max(0, (x + 0.5) / c - 0.5));
    const x0 = t | 0;
    const x1 = Math.min(gw - 1, x0 + 1);
    const wx = t - x0;
    for (let gy = 0; gy < gh; gy++) {
      const p0 = paper[gy * gw + x0] as number;
      rowsX[gy * ww + x] = p0 + ((paper[gy * gw + x1] as number) - p0) * wx;
    }
  }
  for (let y = 0; y < wh; y++) {
    const t = Math.min(gh - 1, Math.max(0, (y + 0.5) / c - 0.5));
    const r0 = (t | 0) * ww;
    const r1 = Math.min(gh - 1, (t | 0) + 1) * ww;
    const wy = t - (t | 0);
    const at = y * ww;
    for (let x = 0; x < ww; x++) {
      const top = rowsX[r0 + x] as number;
      const bg = top + ((rowsX[r1 + x] as number) - top) * wy;
      const g = gray[at + x] as number;
      let s: number;
      if (darkOnLight) {
        // Reflectance: ink as the fraction of the local paper's light it absorbs.
        const bright = 255 - bg;
        s = ((bright - g) * 255) / Math.max(bright, 16);
      } else {
        s = g - bg;
      }
      // Rounded to nearest; signals stay within -255..255.
      signal[at + x] = s <= -255 ? -255 : s >= 255 ? 255 : ((s + 255.5) | 0) - 255;
    }
  }
  // The paper's statistics from a sample of one pixel in 2x2: plenty for a median and a spread,
  // and a histogram update per pixel would cost as much as the rest of this step.
  let sampled = 0;
  for (let y = 0; y < wh; y += 2) {
    for (let p = y * ww, end = p + ww; p < end; p += 2) {
      const b = (signal[p] as number) + 255;
      histogram[b] = (histogram[b] as number) + 1;
      sampled++;
    }
  }

  // 5. Threshold from the paper's median and its noise (the side away from the ink).
  const median = quantile(histogram, sampled, 0.5);
  const low = quantile(histogram, sampled, 0.1587);
  const sigma = Math.max(1, median - low);
  const threshold = median + Math.max(NOISE_K * sigma, MIN_CONTRAST);

  // 6. Components of the ink mask.
  const found = components(signal, labels, ww, wh, threshold);
  const picked = pickDigit(found, ww, wh, median, threshold);
  return { median, sigma, found, picked, signal };
}

function toWorkingGray(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 4,
  f: number,
  ww: number,
  wh: number,
  out: Uint8Array,
): void {
  if (f === 1) {
    if (channels === 1) {
      out.set(data.subarray(0, ww * wh));
      return;
    }
    for (let i = 0, p = 0; i < ww * wh; i++, p += 4) {
      const luma =
        (77 * (data[p] as number) +
          150 * (data[p + 1] as number) +
          29 * (data[p + 2] as number) +
          128) >>
        8;
      const a = data[p + 3] as number;
      // Transparent pixels are white paper.
      out[i] = a === 255 ? luma : (255 - ((255 - luma) * a + 127) / 255) | 0;
    }
    return;
  }
  // Box-average f x f blocks (blocks have f columns, or the whole width when it is under f).
  const bw = Math.min(f, width);
  rowSums = rowSums.length >= ww ? rowSums : new Float64Array(ww);
  for (let y = 0; y < wh; y++) {
    rowSums.fill(0, 0, ww);
    const yEnd = Math.min(height, y * f + f);
    for (let sy = y * f; sy < yEnd; sy++) {
      let p = sy * width * channels;
      if (channels === 4) {
        for (let x = 0; x < ww; x++) {
          let sum = 0;
          for (let k = 0; k < bw; k++, p += 4) {
            // Luma times 256; transparent pixels composited over white.
            const l =
              77 * (data[p] as number) +
              150 * (data[p + 1] as number) +
              29 * (data[p + 2] as number);
            const a = data[p + 3] as number;
            sum += a === 255 ? l : 65280 - ((65280 - l) * a) / 255;
          }
          rowSums[x] = (rowSums[x] as number) + sum;
        }
      } else {
        for (let x = 0; x < ww; x++) {
          let sum = 0;
          for (let k = 0; k < bw; k++, p++) sum += data[p] as number;
          rowSums[x] = (rowSums[x] as number) + sum * 256;
        }
      }
    }
    const scale = 1 / (256 * bw * (yEnd - y * f));
    for (let x = 0; x < ww; x++) out[y * ww + x] = ((rowSums[x] as number) * scale + 0.5) | 0;
  }
}

/**
 * The paper under the ink, on the cell grid (ink pointing up), in place. A small opening
 * follows shading (gradients, vignettes, the edge of a shadow) but also swallows ink blobs wider
 * than its element (a thick marker's junctions, a filled loop); a large one keeps blobs but
 * misses shading. Where they differ, shading reaches the border of the picture (light falls
 * from outside it), while a blob of ink sits inside the paper: regions of difference connected
 * to the border take the small opening, the others the large one.
 */
function paperGrid(grid: Float32Array, gw: number, gh: number): void {
  // The large opening runs on cells merged 2x2 (it only needs the coarse shape of big blobs).
  const cw = Math.ceil(gw / 2);
  const ch = Math.ceil(gh / 2);
  const coarse = new Float32Array(cw * ch);
  const counts = new Float32Array(cw * ch);
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      const k = (y >> 1) * cw + (x >> 1);
      coarse[k] = (coarse[k] as number) + (grid[y * gw + x] as number);
      counts[k] = (counts[k] as number) + 1;
    }
  }
  for (let k = 0; k < coarse.length; k++) coarse[k] = (coarse[k] as number) / (counts[k] as number);
  openGrid(grid, gw, gh, Math.min(OPEN_RADIUS, Math.max(gw, gh)));
  openGrid(coarse, cw, ch, Math.min(OPEN_RADIUS_LARGE >> 1, Math.max(cw, ch)));
  const differs = new Uint8Array(gw * gh);
  const largeAt = (k: number) => coarse[(((k / gw) | 0) >> 1) * cw + ((k % gw) >> 1)] as number;
  for (let k = 0; k < differs.length; k++) {
    differs[k] = (grid[k] as number) - largeAt(k) > SHADING_STEP ? 1 : 0;
  }
  // Flood from the border through differing cells: what it reaches is shading (marked 2).
  const stack: number[] = [];
  for (let k = 0; k < differs.length; k++) {
    const x = k % gw;
    const y = (k / gw) | 0;
    if (differs[k] === 1 && (x === 0 || y === 0 || x === gw - 1 || y === gh - 1)) {
      differs[k] = 2;
      stack.push(k);
    }
  }
  const visit = (q: number) => {
    if (differs[q] === 1) {
      differs[q] = 2;
      stack.push(q);
    }
  };
  while (stack.length > 0) {
    const k = stack.pop() as number;
    const x = k % gw;
    if (x > 0) visit(k - 1);
    if (x < gw - 1) visit(k + 1);
    if (k >= gw) visit(k - gw);
    if (k + gw < differs.length) visit(k + gw);
  }
  for (let k = 0; k < differs.length; k++) if (differs[k] === 1) grid[k] = largeAt(k);
}

/**
 * Grey opening (erosion then dilation, separable, over a (2r+1)^2 window of cells) of the paper
 * grid, in place. The grid is first extended by 2r cells each way by point reflection
 * (`2 * edge - inside`), which continues a trend: without it, the opening could not follow paper
 * that darkens towards the border (a vignette), and the border would read as ink.
 */
function openGrid(grid: Float32Array, gw: number, gh: number, r: number): void {
  const pad = 2 * r;
  const pw = gw + 2 * pad;
  const ph = gh + 2 * pad;
  const a = new Float32Array(pw * ph);
  for (let y = 0; y < ph; y++) {
    const yy = y - pad;
    const ey = yy < 0 ? 0 : yy >= gh ? gh - 1 : yy; // the edge row (or yy itself inside)
    const iy = yy < 0 ? Math.min(gh - 1, -yy) : yy >= gh ? Math.max(0, 2 * (gh - 1) - yy) : yy;
    for (let x = 0; x < pw; x++) {
      const xx = x - pad;
      const ex = xx < 0 ? 0 : xx >= gw ? gw - 1 : xx;
      const ix = xx < 0 ? Math.min(gw - 1, -xx) : xx >= gw ? Math.max(0, 2 * (gw - 1) - xx) : xx;
      // Point reflection through the edge cell, in each direction that is outside.
      const edge = grid[ey * gw + ex] as number;
      let v: number;
      if (ex === ix && ey === iy) v = edge;
      else if (ex === ix) v = 2 * edge - (grid[iy * gw + ex] as number);
      else if (ey === iy) v = 2 * edge - (grid[ey * gw + ix] as number);
      else v = 2 * edge - (grid[iy * gw + ix] as number);
      a[y * pw + x] = v;
    }
  }
  const w = 2 * r + 1;
  const line = new Float32Array(Math.max(pw, ph) + w);
  const fwd = new Float32Array(line.length);
  const bwd = new Float32Array(line.length);
  for (const min of [true, false]) {
    for (let y = 0; y < ph; y++) filterLine(a, y * pw, 1, pw, r, min, line, fwd, bwd);
    for (let x = 0; x < pw; x++) filterLine(a, x, pw, ph, r, min, line, fwd, bwd);
  }
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) grid[y * gw + x] = a[(y + pad) * pw + x + pad] as number;
  }
}

/**
 * A running min (or max) of radius r along one line of `n` values (`data[start + i * step]`),
 * in place, by van Herk / Gil-Werman: block-wise prefix and suffix extremes, three comparisons a
 * value whatever r. Windows are clipped at the line's ends.
 */
function filterLine(
  data: Float32Array,
  start: number,
  step: number,
  n: number,
  r: number,
  min: boolean,
  line: Float32Array,
  fwd: Float32Array,
  bwd: Float32Array,
): void {
  const w = 2 * r + 1;
  const fill = min ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  // line[j] = value at i = j - r, padded with the neutral value.
  const len = n + 2 * r;
  for (let j = 0; j < len; j++) {
    const i = j - r;
    line[j] = i < 0 || i >= n ? fill : (data[start + i * step] as number);
  }
  for (let j = 0; j < len; j++) {
    const v = line[j] as number;
    if (j % w === 0) fwd[j] = v;
    else {
      const p = fwd[j - 1] as number;
      fwd[j] = min ? Math.min(v, p) : Math.max(v, p);
    }
  }
  for (let j = len - 1; j >= 0; j--) {
    const v = line[j] as number;
    if (j === len - 1 || (j + 1) % w === 0) bwd[j] = v;
    else {
      const p = bwd[j + 1] as number;
      bwd[j] = min ? Math.min(v, p) : Math.max(v, p);
    }
  }
  // The window [i - r, i + r] is line[i .. i + 2r]: bwd at its start, fwd at its end.
  for (let i = 0; i < n; i++) {
    const x = bwd[i] as number;
    const y = fwd[i + w - 1] as number;
    data[start + i * step] = min ? Math.min(x, y) : Math.max(x, y);
  }
}

/** The value below which a fraction `q` of the histogram's `n` signals lie (bins -255..255). */
function quantile(hist: Int32Array, n: number, q: number): number {
  const target = q * n;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i] as number;
    if (acc >= target) return i - 255;
  }
  return 255;
}

interface Components {
  /** Number of components; component `k` has the statistics at index `k`. */
  count: number;
  /** `rootOf[labels[p]]`: the component of pixel `p` (-1: not ink). */
  rootOf: (p: number) => number;
  area: Int32Array;
  minX: Int32Array;
  maxX: Int32Array;
  minY: Int32Array;
  maxY: Int32Array;
  mass: Float64Array;
}

function find(x: number): number {
  let root = x;
  while ((parent[root] as number) !== root) root = parent[root] as number;
  while ((parent[x] as number) !== root) {
    const next = parent[x] as number;
    parent[x] = root;
    x = next;
  }
  return root;
}

function union(a: number, b: number): number {
  const ra = find(a);
  const rb = find(b);
  if (ra === rb) return ra;
  if (ra < rb) {
    parent[rb] = ra;
    return ra;
  }
  parent[ra] = rb;
  return rb;
}

/** The label of a pixel that touches labels `l` (0: none yet) and `lq` (0: not ink). */
function join(l: number, lq: number): number {
  if (lq <= 0) return l;
  return l === 0 ? lq : union(l, lq);
}

/** 8-connected components of `signal > threshold` (two passes, union-find). */
function components(
  sig: Int16Array,
  labels: Int32Array,
  ww: number,
  wh: number,
  threshold: number,
): Components {
  parent = grow(parent, ((ww * wh) >> 1) + 2, (k) => new Int32Array(k));
  let next = 1;
  for (let y = 0; y < wh; y++) {
    const at = y * ww;
    for (let x = 0; x < ww; x++) {
      const p = at + x;
      if ((sig[p] as number) <= threshold) {
        labels[p] = 0;
        continue;
      }
      let l = 0;
      if (x > 0 && (labels[p - 1] as number) > 0) l = labels[p - 1] as number;
      if (y > 0) {
        const up = p - ww;
        if (x > 0) l = join(l, labels[up - 1] as number);
        l = join(l, labels[up] as number);
        if (x + 1 < ww) l = join(l, labels[up + 1] as number);
      }
      if (l === 0) {
        if (next >= parent.length) parent = grow(parent, next + 1, (k) => new Int32Array(k));
        parent[next] = next;
        l = next++;
      }
      labels[p] = l;
    }
  }
  // Compact the roots to 0..count-1 and gather their statistics.
  const compact = new Int32Array(next).fill(-1);
  let count = 0;
  for (let l = 1; l < next; l++) {
    const root = find(l);
    if ((compact[root] as number) < 0) compact[root] = count++;
    compact[l] = compact[root] as number;
  }
  const area = new Int32Array(count);
  const minX = new Int32Array(count).fill(ww);
  const maxX = new Int32Array(count).fill(-1);
  const minY = new Int32Array(count).fill(wh);
  const maxY = new Int32Array(count).fill(-1);
  const mass = new Float64Array(count);
  for (let y = 0; y < wh; y++) {
    const at = y * ww;
    for (let x = 0; x < ww; x++) {
      const l = labels[at + x] as number;
      if (l === 0) {
        labels[at + x] = -1;
        continue;
      }
      const k = compact[l] as number;
      labels[at + x] = k;
      area[k] = (area[k] as number) + 1;
      mass[k] = (mass[k] as number) + (sig[at + x] as number) - threshold;
      if (x < (minX[k] as number)) minX[k] = x;
      if (x > (maxX[k] as number)) maxX[k] = x;
      if (y < (minY[k] as number)) minY[k] = y;
      if (y > (maxY[k] as number)) maxY[k] = y;
    }
  }
  return { count, rootOf: (p) => labels[p] as number, area, minX, maxX, minY, maxY, mass };
}

interface Picked {
  /** The kept components' ink above the threshold. */
  mass: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  keep: Uint8Array;
}

/**
 * The digit: the heaviest component that is not a speck, with the other non-speck components
 * near its box (a 5's top bar, chalk broken by the board's grain). `null` when there is none
 * or it is too small to be a digit.
 */
function pickDigit(
  found: Components,
  ww: number,
  wh: number,
  median: number,
  threshold: number,
): Picked | null {
  const { count, area, minX, maxX, minY, maxY, mass } = found;
  const speck = Math.max(4, Math.round(ww * wh * 1e-4));
  let best = -1;
  for (let k = 0; k < count; k++) {
    if ((area[k] as number) < speck) continue;
    // Ink is dark (or bright) against its paper, not a few levels off a background estimate.
    const contrast = (mass[k] as number) / (area[k] as number) + threshold - median;
    if (contrast < MIN_STROKE_CONTRAST) continue;
    if (best < 0 || (mass[k] as number) > (mass[best] as number)) best = k;
  }
  if (best < 0) return null;
  let x0 = minX[best] as number;
  let x1 = maxX[best] as number;
  let y0 = minY[best] as number;
  let y1 = maxY[best] as number;
  const side = Math.max(x1 - x0, y1 - y0) + 1;
  if (side < Math.max(6, 0.03 * Math.max(ww, wh))) return null;
  const keep = new Uint8Array(count);
  keep[best] = 1;
  let total = mass[best] as number;
  const margin = 0.3 * side;
  const nearSpeck = Math.max(2, speck >> 2);
  const ax0 = x0 - margin;
  const ax1 = x1 + margin;
  const ay0 = y0 - margin;
  const ay1 = y1 + margin;
  for (let k = 0; k < count; k++) {
    // Pieces near the digit count from a smaller size than lone specks (a 9 with a broken tail).
    if (k === best || (area[k] as number) < nearSpeck) continue;
    if ((maxX[k] as number) < ax0 || (minX[k] as number) > ax1) continue;
    if ((maxY[k] as number) < ay0 || (minY[k] as number) > ay1) continue;
    keep[k] = 1;
    total += mass[k] as number;
    x0 = Math.min(x0, minX[k] as number);
    x1 = Math.max(x1, maxX[k] as number);
    y0 = Math.min(y0, minY[k] as number);
    y1 = Math.max(y1, maxY[k] as number);
  }
  // One pixel of fringe each way for the anti-aliased edge.
  return {
    mass: total,
    x0: Math.max(0, x0 - 1),
    y0: Math.max(0, y0 - 1),
    x1: Math.min(ww - 1, x1 + 1),
    y1: Math.min(wh - 1, y1 + 1),
    keep,
  };
}

/** The ink's level: the 75th percentile of the kept components' signals. */
function inkLevel(
  sig: Int16Array,
  ww: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  keep: Uint8Array,
  rootOf: (p: number) => number,
): number {
  histogram.fill(0);
  let n = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const p = y * ww + x;
      const k = rootOf(p);
      if (k >= 0 && keep[k]) {
        {
          const b = (sig[p] as number) + 255;
          histogram[b] = (histogram[b] as number) + 1;
        }
        n++;
      }
    }
  }
  return quantile(histogram, n, 0.75);
}

/** Whether pixel `p` is on a kept component or touches one (the stroke's fringe). */
function nearKept(
  p: number,
  x: number,
  y: number,
  ww: number,
  wh: number,
  keep: Uint8Array,
  rootOf: (p: number) => number,
): boolean {
  const k = rootOf(p);
  if (k >= 0) return keep[k] === 1;
  for (let dy = -1; dy <= 1; dy++) {
    const yy = y + dy;
    if (yy < 0 || yy >= wh) continue;
    for (let dx = -1; dx <= 1; dx++) {
      const xx = x + dx;
      if (xx < 0 || xx >= ww) continue;
      const q = rootOf(p + dy * ww + dx);
      if (q >= 0 && keep[q] === 1) return true;
    }
  }
  return false;
}

/**
 * MNIST's framing of a cropped digit: its longer side scaled to 20 pixels (area resampling),
 * placed in 28x28 with its centre of mass at the centre.
 */
export function frameCrop(src: Uint8Array, bw: number, bh: number, out: Uint8Array): void {
  const scale = 20 / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale));
  const th = Math.max(1, Math.round(bh * scale));
  const digit = resampleArea(src, bw, 0, 0, bw, bh, tw, th);
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = digit[y * tw + x] as number;
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  const offX = Math.round(14 - (mass ? cx / mass : tw / 2) - 0.5);
  const offY = Math.round(14 - (mass ? cy / mass : th / 2) - 0.5);
  for (let y = 0; y < th; y++) {
    const oy = y + offY;
    if (oy < 0 || oy >= 28) continue;
    for (let x = 0; x < tw; x++) {
      const ox = x + offX;
      if (ox >= 0 && ox < 28) out[oy * 28 + ox] = digit[y * tw + x] as number;
    }
  }
}

/**
 * Box-filter (area-average) resampling of a `bw`x`bh` window at (x0, y0) of a `stride`-wide
 * image to `tw`x`th`: the right filter for shrinking drawings without aliasing.
 */
export function resampleArea(
  src: Uint8Array,
  stride: number,
  x0: number,
  y0: number,
  bw: number,
  bh: number,
  tw: number,
  th: number,
): Uint8Array {
  const out = new Uint8Array(tw * th);
  const sx = bw / tw;
  const sy = bh / th;
  for (let ty = 0; ty < th; ty++) {
    const fy0 = ty * sy;
    const fy1 = fy0 + sy;
    for (let tx = 0; tx < tw; tx++) {
      const fx0 = tx * sx;
      const fx1 = fx0 + sx;
      let sum = 0;
      let area = 0;
      for (let y = Math.floor(fy0); y < Math.ceil(fy1); y++) {
        const wy = Math.min(fy1, y + 1) - Math.max(fy0, y);
        for (let x = Math.floor(fx0); x < Math.ceil(fx1); x++) {
          const w = wy * (Math.min(fx1, x + 1) - Math.max(fx0, x));
          sum += w * (src[(y0 + y) * stride + x0 + x] as number);
          area += w;
        }
      }
      out[ty * tw + tx] = Math.round(sum / area);
    }
  }
  return out;
}

/**
 * Runs the photo pipeline that predictors apply to RGBA and other-size grayscale images, and
 * returns what the model will read: the 28x28 digit, white on black and framed like MNIST, with
 * `empty` when the image holds no digit. Use it to show the user what the model saw.
 *
 * @param image - An RGBA image (`ctx.getImageData(...)`, a decoded PNG/JPEG) of any size, or a
 *   grayscale `{ data, width, height }` with one byte per pixel.
 * @param options - `invert` (`'auto'`): see {@link ExtractOptions}.
 * @returns The digit, `empty`, the polarity found and the digit's box in the input.
 * @throws {@link InputError} for sizes that are not positive integers (or over 2^26 pixels),
 *   data that is not a `Uint8Array`/`Uint8ClampedArray` of `width * height * 4` (or
 *   `width * height`) bytes, a detached buffer, or an invalid `invert`.
 *
 * @example
 * ```ts
 * import { extractDigit, formatDigitAscii } from 'lenet-mnist';
 * const { pixels, empty } = extractDigit(ctx.getImageData(0, 0, canvas.width, canvas.height));
 * console.log(empty ? 'no digit found' : formatDigitAscii(pixels, 28, 28));
 * ```
 */
export function extractDigit(image: ImageDataLike, options: ExtractOptions = {}): ExtractedDigit {
  const checked = checkImage(image, 'extractDigit');
  if (typeof options !== 'object' || options === null) {
    throw new InputError('extractDigit: options must be an object');
  }
  const invert = options.invert ?? 'auto';
  if (invert !== true && invert !== false && invert !== 'auto') {
    throw new InputError(
      `extractDigit: invert must be true, false or 'auto', got ${typeof invert === 'string' ? JSON.stringify(invert) : describe(invert)}`,
    );
  }
  const pixels = new Uint8Array(784);
  const found = extractInto(
    checked.data,
    checked.width,
    checked.height,
    checked.channels,
    invert,
    pixels,
  );
  return { pixels, ...found };
}

/**
 * Checks an image-like `{ data, width, height }` for the pipeline: positive integer sizes (at
 * most 2^26 pixels), data of 4 (RGBA) or 1 (grayscale) bytes a pixel, not detached.
 */
export function checkImage(
  image: ImageDataLike,
  what: string,
): { data: Uint8Array | Uint8ClampedArray; width: number; height: number; channels: 1 | 4 } {
  if (typeof image !== 'object' || image === null) {
    throw new InputError(
      `${what}: expected an image { data, width, height }, got ${describe(image)}`,
    );
  }
  const { data, width, height } = image;
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width < 1 ||
    height < 1 ||
    width * height > 1 << 26
  ) {
    throw new InputError(
      `${what}: width/height must be positive integers (at most 2^26 pixels), found ${describe(width)}x${describe(height)}`,
    );
  }
  const isBytes = data instanceof Uint8ClampedArray || data instanceof Uint8Array;
  if (isBytes && data.length === width * height * 4) return { data, width, height, channels: 4 };
  if (isBytes && data.length === width * height) return { data, width, height, channels: 1 };
  // A transferred (detached) buffer reads as length 0.
  const detached =
    isBytes && data.buffer.byteLength === 0 ? ' (its buffer is detached or empty)' : '';
  throw new InputError(
    `${what}: RGBA data must be ${width * height * 4} bytes (${width}x${height}x4), or ${width * height} for grayscale, found ${describe(data)}${detached}`,
  );
}
