// A generated test set of digits "as people photograph or scan them": MNIST *test* digits (never
// training digits) rendered as RGBA images of a few hundred pixels on varied paper, plus blank
// images with no digit. Deterministic: sample `i` of a style is the same for a given seed on
// every run and machine (a seeded xorshift, no Math.random). No image files are checked in; this
// file is the test set. Used by test/photo-set.test.ts (a modest sample) and
// scripts/photo-eval.mjs (the full figures in BENCHMARKS.md).
import jpeg from 'jpeg-js';

/** The styles with a digit, in report order. */
export const PHOTO_STYLES = [
  'white-paper',
  'black-background',
  'grey-paper',
  'tinted-paper',
  'coloured-ink',
  'gradient',
  'shadow',
  'vignette',
  'chalkboard',
  'noisy-scan',
  'blur',
  'jpeg',
  'small-in-large',
  'rotation-thickness',
];

/** The kinds of blank (digit-free) images. */
export const BLANK_KINDS = [
  'uniform',
  'gradient',
  'shadow',
  'noisy-paper',
  'chalkboard',
  'tinted',
  'vignette',
  'jpeg-paper',
];

/** A small, fast, seeded PRNG (xorshift32 over a string hash): uniform numbers in [0, 1). */
export function seededRandom(...keys) {
  let h = 2166136261;
  for (const ch of keys.join('/')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 16777619);
  }
  let s = h >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  for (let i = 0; i < 8; i++) next();
  return next;
}

const between = (rand, a, b) => a + (b - a) * rand();
const pick = (rand, list) => list[Math.floor(rand() * list.length)];
const clamp255 = (v) => (v < 0 ? 0 : Math.min(v, 255));

/** A standard normal sample (Box-Muller). */
function gauss(rand) {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/**
 * Ink coverage in [0, 1] of an MNIST digit drawn into a `width` x `height` frame: the 28x28
 * digit's box is `box` pixels wide, centred at (cx, cy), turned by `angle` radians; `level` is
 * the iso-level of the bilinearly interpolated digit that becomes the stroke's edge (lower:
 * thicker strokes) and `soft` the width of the edge ramp.
 */
function inkCoverage(digit, width, height, { box, cx, cy, angle, level, soft }) {
  const out = new Float32Array(width * height);
  const scale = 28 / box;
  const cos = Math.cos(angle) * scale;
  const sin = Math.sin(angle) * scale;
  const reach = box * 0.75;
  const x0 = Math.max(0, Math.floor(cx - reach));
  const x1 = Math.min(width, Math.ceil(cx + reach));
  const y0 = Math.max(0, Math.floor(cy - reach));
  const y1 = Math.min(height, Math.ceil(cy + reach));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const u = cos * dx + sin * dy + 14 - 0.5;
      const v = -sin * dx + cos * dy + 14 - 0.5;
      if (u < -1 || v < -1 || u > 28 || v > 28) continue;
      const fu = Math.floor(u);
      const fv = Math.floor(v);
      const au = u - fu;
      const av = v - fv;
      const at = (xx, yy) =>
        xx < 0 || yy < 0 || xx > 27 || yy > 27 ? 0 : digit[yy * 28 + xx] / 255;
      const t =
        (at(fu, fv) * (1 - au) + at(fu + 1, fv) * au) * (1 - av) +
        (at(fu, fv + 1) * (1 - au) + at(fu + 1, fv + 1) * au) * av;
      const a = (t - level) / soft + 0.5;
      out[y * width + x] = a <= 0 ? 0 : Math.min(a, 1);
    }
  }
  return out;
}

/** Separable box blur, three passes (close to a Gaussian of the given sigma), on one plane. */
function blurPlane(plane, width, height, sigma) {
  const r = Math.max(1, Math.round(sigma * 0.9));
  const tmp = new Float32Array(plane.length);
  for (let pass = 0; pass < 3; pass++) {
    for (let y = 0; y < height; y++) {
      let acc = 0;
      const row = y * width;
      for (let x = -r; x <= r; x++) acc += plane[row + Math.min(width - 1, Math.max(0, x))];
      for (let x = 0; x < width; x++) {
        tmp[row + x] = acc / (2 * r + 1);
        acc += plane[row + Math.min(width - 1, x + r + 1)] - plane[row + Math.max(0, x - r)];
      }
    }
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let y = -r; y <= r; y++) acc += tmp[Math.min(height - 1, Math.max(0, y)) * width + x];
      for (let y = 0; y < height; y++) {
        plane[y * width + x] = acc / (2 * r + 1);
        acc +=
          tmp[Math.min(height - 1, y + r + 1) * width + x] - tmp[Math.max(0, y - r) * width + x];
      }
    }
  }
}

/** A lighting field: 1 is full light; gradients, shadows and vignettes darken parts. */
function lighting(kind, width, height, rand) {
  const light = new Float32Array(width * height).fill(1);
  if (kind === 'gradient') {
    const a = between(rand, 0, 2 * Math.PI);
    const lo = between(rand, 0.4, 0.65);
    const ux = Math.cos(a);
    const uy = Math.sin(a);
    const span = Math.abs(ux) * width + Math.abs(uy) * height;
    const base = Math.min(0, ux * width) + Math.min(0, uy * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const t = (ux * x + uy * y - base) / span;
        light[y * width + x] = lo + (1 - lo) * t;
      }
    }
  } else if (kind === 'shadow') {
    // A soft-edged shadow over a corner (a hand or a phone), sometimes across the digit.
    const corner = Math.floor(rand() * 4);
    const sx = corner & 1 ? width : 0;
    const sy = corner & 2 ? height : 0;
    const radius = between(rand, 0.45, 0.85) * Math.hypot(width, height);
    const edge = between(rand, 4, 30);
    const depth = between(rand, 0.35, 0.6);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const d = Math.hypot(x - sx, y - sy) - radius;
        const t = 1 / (1 + Math.exp(d / edge)); // 1 inside the shadow
        light[y * width + x] = 1 - (1 - depth) * t;
      }
    }
  } else if (kind === 'vignette') {
    const k = between(rand, 0.35, 0.6);
    const cx = width * between(rand, 0.4, 0.6);
    const cy = height * between(rand, 0.4, 0.6);
    const r2 = (width * width + height * height) / 4;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        light[y * width + x] = 1 - k * (((x - cx) ** 2 + (y - cy) ** 2) / r2);
      }
    }
  }
  return light;
}

function jpegRoundTrip(image, quality) {
  const encoded = jpeg.encode(
    { data: image.data, width: image.width, height: image.height },
    quality,
  );
  const decoded = jpeg.decode(encoded.data, { useTArray: true, formatAsRGBA: true });
  return { data: new Uint8ClampedArray(decoded.data), width: image.width, height: image.height };
}

/**
 * Composes an RGBA image: paper colour times lighting, ink mixed in by coverage (also lit), then
 * blur, Gaussian noise, specks and JPEG as asked.
 */
function compose(width, height, rand, o) {
  const { paper, ink, light, coverage, texture = 0 } = o;
  const planes = [0, 1, 2].map(() => new Float32Array(width * height));
  for (let i = 0; i < width * height; i++) {
    let a = coverage ? coverage[i] : 0;
    if (texture && a > 0) a *= 1 - texture * rand(); // chalk: grainy strokes
    const l = light ? light[i] : 1;
    for (let c = 0; c < 3; c++) planes[c][i] = (paper[c] * (1 - a) + ink[c] * a) * l;
  }
  if (o.blur) for (const p of planes) blurPlane(p, width, height, o.blur);
  const data = new Uint8ClampedArray(width * height * 4);
  const noise = o.noise ?? 0;
  const specks = o.specks ?? 0;
  for (let i = 0; i < width * height; i++) {
    const n = noise ? gauss(rand) * noise : 0;
    let speck = -1;
    if (specks && rand() < specks) speck = rand() < 0.5 ? 0 : 255;
    for (let c = 0; c < 3; c++) {
      data[i * 4 + c] = speck >= 0 ? speck : clamp255(Math.round(planes[c][i] + n));
    }
    data[i * 4 + 3] = 255;
  }
  const image = { data, width, height };
  return o.jpeg ? jpegRoundTrip(image, o.jpeg) : image;
}

const grey = (v) => [v, v, v];

function tintedPaper(rand) {
  const tints = [
    [250, 240, 190], // yellow legal pad
    [245, 222, 225], // pink
    [215, 232, 250], // light blue
    [222, 245, 215], // light green
    [240, 230, 210], // cream / recycled
  ];
  const base = pick(rand, tints);
  const k = between(rand, 0.85, 1);
  return base.map((v) => v * k);
}

function penInk(rand, kind) {
  const inks = {
    blue: [
      [25, 40, 150],
      [30, 60, 200],
      [20, 30, 110],
    ],
    colour: [
      [190, 25, 30], // red
      [20, 120, 40], // green
      [30, 60, 200], // blue
      [110, 30, 140], // purple
      [150, 60, 10], // brown
    ],
  };
  return pick(rand, inks[kind]).map((v) => clamp255(v + between(rand, -15, 15)));
}

/** Frame size and digit placement for a digit of a few hundred pixels. */
function placement(rand, { small = false } = {}) {
  if (small) {
    const width = 600;
    const height = 480;
    const digitHeight = between(rand, 32, 70); // the digit's ink is ~20/28 of the box
    const box = (digitHeight * 28) / 20;
    return {
      width,
      height,
      box,
      cx: between(rand, box, width - box),
      cy: between(rand, box, height - box),
    };
  }
  const width = Math.round(between(rand, 180, 360));
  const height = Math.round(between(rand, 180, 360));
  const digitHeight = between(rand, 0.4, 0.75) * Math.min(width, height);
  const box = (digitHeight * 28) / 20;
  const slack = Math.max(0, Math.min(width, height) / 2 - digitHeight / 2 - 4);
  return {
    width,
    height,
    box,
    cx: width / 2 + between(rand, -slack, slack) * 0.6,
    cy: height / 2 + between(rand, -slack, slack) * 0.6,
  };
}

/** The settings of one sample of `style` (a digit style or `blank:<kind>`). */
function settings(style, rand) {
  const small = style === 'small-in-large';
  const place = placement(rand, { small });
  const stroke = {
    angle: between(rand, -0.07, 0.07),
    level: between(rand, 0.3, 0.5),
    soft: between(rand, 0.12, 0.25),
  };
  const darkInk = () => grey(between(rand, 5, 70));
  const whitePaper = () => grey(between(rand, 235, 255));
  const o = { paper: whitePaper(), ink: darkInk() };
  switch (style) {
    case 'white-paper':
      break;
    case 'black-background':
      o.paper = grey(between(rand, 0, 30));
      o.ink = grey(between(rand, 215, 255));
      break;
    case 'grey-paper':
      o.paper = grey(between(rand, 160, 235));
      o.ink = grey(between(rand, 10, 70));
      break;
    case 'tinted-paper':
      o.paper = tintedPaper(rand);
      o.ink = penInk(rand, 'blue');
      break;
    case 'coloured-ink':
      o.paper = rand() < 0.5 ? whitePaper() : grey(between(rand, 190, 235));
      o.ink = penInk(rand, 'colour');
      break;
    case 'gradient':
      o.paper = grey(between(rand, 215, 255));
      o.lightKind = 'gradient';
      break;
    case 'shadow':
      o.paper = rand() < 0.5 ? whitePaper() : tintedPaper(rand);
      o.lightKind = 'shadow';
      break;
    case 'vignette':
      o.lightKind = 'vignette';
      break;
    case 'chalkboard':
      o.paper = rand() < 0.5 ? grey(between(rand, 25, 70)) : [30, between(rand, 50, 80), 45];
      o.ink = grey(between(rand, 185, 240));
      o.texture = between(rand, 0.2, 0.5);
      o.noise = between(rand, 3, 8);
      break;
    case 'noisy-scan':
      o.paper = grey(between(rand, 200, 250));
      o.ink = grey(between(rand, 10, 80));
      o.noise = between(rand, 12, 25);
      o.specks = between(rand, 0.002, 0.008);
      break;
    case 'blur':
      o.blur = between(rand, 1.5, 0.03 * place.box + 1.5);
      if (rand() < 0.3) {
        o.paper = grey(between(rand, 0, 30));
        o.ink = grey(between(rand, 215, 255));
      }
      break;
    case 'jpeg':
      o.jpeg = Math.round(between(rand, 10, 40));
      if (rand() < 0.3) o.paper = grey(between(rand, 160, 235));
      if (rand() < 0.2) {
        o.paper = grey(between(rand, 0, 40));
        o.ink = grey(between(rand, 200, 255));
      }
      o.noise = between(rand, 0, 6);
      break;
    case 'small-in-large':
      o.paper = grey(between(rand, 170, 255));
      if (rand() < 0.5) o.lightKind = 'gradient';
      o.noise = between(rand, 0, 5);
      break;
    case 'rotation-thickness':
      stroke.angle = between(rand, 0.08, 0.22) * (rand() < 0.5 ? -1 : 1);
      stroke.level = rand() < 0.5 ? between(rand, 0.08, 0.2) : between(rand, 0.55, 0.7);
      break;
    default:
      throw new Error(`unknown photo style ${style}`);
  }
  return { ...place, ...o, stroke };
}

function blankSettings(kind, rand) {
  const width = Math.round(between(rand, 180, 640));
  const height = Math.round(between(rand, 180, 480));
  const o = { width, height, paper: grey(between(rand, 170, 255)), ink: grey(0) };
  o.noise = between(rand, 0, 4);
  switch (kind) {
    case 'uniform':
      o.paper = grey(between(rand, 0, 255));
      break;
    case 'gradient':
      o.lightKind = 'gradient';
      break;
    case 'shadow':
      o.lightKind = 'shadow';
      break;
    case 'noisy-paper':
      o.noise = between(rand, 12, 25);
      o.specks = between(rand, 0.001, 0.005);
      break;
    case 'chalkboard':
      o.paper = [30, between(rand, 40, 80), 45];
      o.noise = between(rand, 3, 8);
      break;
    case 'tinted':
      o.paper = tintedPaper(rand);
      break;
    case 'vignette':
      o.lightKind = 'vignette';
      break;
    case 'jpeg-paper':
      o.paper = grey(between(rand, 120, 250));
      o.lightKind = rand() < 0.5 ? 'gradient' : undefined;
      o.noise = between(rand, 2, 8);
      o.jpeg = Math.round(between(rand, 10, 40));
      break;
    default:
      throw new Error(`unknown blank kind ${kind}`);
  }
  return o;
}

/**
 * Sample `i` of a style: which MNIST test digit (the index into `testSet`), its label and the
 * RGBA image. `testSet` is `{ images, labels, count }` of 28x28 test digits.
 *
 * @param {string} style - One of {@link PHOTO_STYLES}.
 */
export function photoSample(testSet, style, i, seed = 'photo-set-v1') {
  const rand = seededRandom(seed, style, String(i));
  const index = Math.floor(rand() * testSet.count);
  const digit = testSet.images.subarray(index * 784, (index + 1) * 784);
  const s = settings(style, rand);
  const coverage = inkCoverage(digit, s.width, s.height, {
    box: s.box,
    cx: s.cx,
    cy: s.cy,
    ...s.stroke,
  });
  const light = s.lightKind ? lighting(s.lightKind, s.width, s.height, rand) : undefined;
  const image = compose(s.width, s.height, rand, { ...s, coverage, light });
  return { style, index, label: testSet.labels[index], image };
}

/** Blank sample `i` (no digit): kind chosen in turn from {@link BLANK_KINDS}. */
export function blankSample(i, seed = 'photo-set-v1') {
  const kind = BLANK_KINDS[i % BLANK_KINDS.length];
  const rand = seededRandom(seed, 'blank', String(i));
  const s = blankSettings(kind, rand);
  const light = s.lightKind ? lighting(s.lightKind, s.width, s.height, rand) : undefined;
  const image = compose(s.width, s.height, rand, { ...s, light });
  return { style: `blank:${kind}`, kind, image };
}
