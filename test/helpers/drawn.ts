// Renders a 28x28 MNIST digit the way a person might hand it to a predictor: on a canvas-sized
// RGBA image, with a thick or thin pen, turned by up to 15 degrees, small or large, anywhere on
// the canvas, dark ink on light paper or light ink on a dark screen, a little blurred and noisy.
// Deterministic for a given random source.
import type { ImageDataLike } from '../../src/predict/input.js';

/** What was drawn (for reporting the mix and checking that the test covers it). */
export interface DrawnStyle {
  stroke: 'thin' | 'normal' | 'thick';
  angle: number;
  /** Canvas pixels per MNIST pixel. */
  zoom: number;
  /** Offset of the digit's centre from the canvas centre, in canvas pixels. */
  offset: [number, number];
  background: 'light' | 'dark';
  blur: number;
}

const UP = 2; // work at twice MNIST's resolution for the stroke width

/** Bilinear 28 -> 56 upsampling of a digit into [0, 1] ink. */
function upsample(digit: Uint8Array): Float32Array {
  const n = 28 * UP;
  const out = new Float32Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      out[y * n + x] = sample28(digit, (x + 0.5) / UP - 0.5, (y + 0.5) / UP - 0.5);
    }
  }
  return out;
}

function sample28(digit: Uint8Array, x: number, y: number): number {
  const at = (xi: number, yi: number) =>
    xi < 0 || yi < 0 || xi >= 28 || yi >= 28 ? 0 : (digit[yi * 28 + xi] as number) / 255;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx;
  const bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx;
  return top * (1 - fy) + bottom * fy;
}

/** Grey dilation (max) or erosion (min) over a (2r+1)^2 square. */
function morph(img: Float32Array, n: number, r: number, op: 'max' | 'min'): Float32Array {
  const pick = op === 'max' ? Math.max : Math.min;
  const tmp = new Float32Array(img.length);
  const out = new Float32Array(img.length);
  const edge = 0; // outside the image: no ink
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      let v = img[y * n + x] as number;
      for (let d = -r; d <= r; d++) {
        const xx = x + d;
        v = pick(v, xx < 0 || xx >= n ? edge : (img[y * n + xx] as number));
      }
      tmp[y * n + x] = v;
    }
  }
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      let v = tmp[y * n + x] as number;
      for (let d = -r; d <= r; d++) {
        const yy = y + d;
        v = pick(v, yy < 0 || yy >= n ? edge : (tmp[yy * n + x] as number));
      }
      out[y * n + x] = v;
    }
  }
  return out;
}

/** Separable box blur of radius r (a new image; the same one for r = 0). */
function boxBlur(img: Float32Array, w: number, h: number, r: number): Float32Array {
  if (r === 0) return img;
  const tmp = new Float32Array(img.length);
  const out = new Float32Array(img.length);
  const size = 2 * r + 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += img[y * w + Math.min(w - 1, Math.max(0, x + d))] as number;
      tmp[y * w + x] = s / size;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += tmp[Math.min(h - 1, Math.max(0, y + d)) * w + x] as number;
      out[y * w + x] = s / size;
    }
  }
  return out;
}

/**
 * The digit drawn on a `side`x`side` RGBA canvas (ImageData-like), and how it was drawn.
 * `random` gives uniform numbers in [0, 1).
 */
export function drawLikeAPerson(
  digit: Uint8Array,
  random: () => number,
  side = 280,
): { image: ImageDataLike; style: DrawnStyle } {
  const pick = random();
  const stroke: DrawnStyle['stroke'] = pick < 1 / 3 ? 'thin' : pick < 2 / 3 ? 'normal' : 'thick';
  let ink = upsample(digit);
  const n = 28 * UP;
  // Thin: erode by half an MNIST pixel each side; thick: dilate by one MNIST pixel each side.
  if (stroke === 'thin') ink = morph(ink, n, 1, 'min');
  if (stroke === 'thick') ink = morph(ink, n, 2, 'max');
  const angle = ((2 * random() - 1) * 15 * Math.PI) / 180;
  // The MNIST digit's ink spans about 20 of 28 pixels: from about 50 to 220 canvas pixels here.
  const zoom = 2.5 + random() * 8.5;
  // Keep the ink (within ~14 MNIST pixels of the centre) on the canvas, else anywhere.
  const reach = Math.max(0, side / 2 - 14 * zoom);
  const offset: [number, number] = [(2 * random() - 1) * reach, (2 * random() - 1) * reach];
  const background: DrawnStyle['background'] = random() < 0.5 ? 'light' : 'dark';
  const blur = Math.floor(random() * 3); // box radius 0, 1 or 2 canvas pixels
  const cos = Math.cos(-angle);
  const sin = Math.sin(-angle);
  const c = side / 2;
  let alpha: Float32Array = new Float32Array(side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const dx = x + 0.5 - c - offset[0];
      const dy = y + 0.5 - c - offset[1];
      // Canvas -> MNIST coordinates (pixel centres at k + 0.5), then -> the 56x56 image.
      const u = (cos * dx - sin * dy) / zoom + 14;
      const v = (sin * dx + cos * dy) / zoom + 14;
      const sx = u * UP - 0.5;
      const sy = v * UP - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= n || y0 >= n) continue;
      const fx = sx - x0;
      const fy = sy - y0;
      const at = (xi: number, yi: number) =>
        xi < 0 || yi < 0 || xi >= n || yi >= n ? 0 : (ink[yi * n + xi] as number);
      const top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx;
      const bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx;
      alpha[y * side + x] = top * (1 - fy) + bottom * fy;
    }
  }
  alpha = boxBlur(alpha, side, side, blur);
  // Paper 235-255 with ink 0-80 (a pen), or a screen 0-16 with ink 200-255 (a light brush);
  // a slight colour tint; uniform noise of +-8 levels per channel.
  const light = background === 'light';
  const paper = light ? 235 + random() * 20 : random() * 16;
  const pen = light ? random() * 80 : 200 + random() * 55;
  const tint = [random() * 6 - 3, random() * 6 - 3, random() * 6 - 3];
  const data = new Uint8ClampedArray(side * side * 4);
  for (let i = 0; i < side * side; i++) {
    const a = alpha[i] as number;
    const base = paper + (pen - paper) * Math.min(1, a);
    for (let ch = 0; ch < 3; ch++) {
      data[4 * i + ch] = Math.round(base + (tint[ch] as number) + (2 * random() - 1) * 8);
    }
    data[4 * i + 3] = 255;
  }
  return {
    image: { data, width: side, height: side },
    style: { stroke, angle: (angle * 180) / Math.PI, zoom, offset, background, blur },
  };
}
