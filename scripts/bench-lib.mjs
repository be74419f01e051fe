// Helpers shared by the benchmark harness (bench.mjs) and its Node workers.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ASC_FLAGS, RELAXED_FLAGS } from './asc-flags.mjs';

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const OUT_DIR = join(ROOT, 'bench-out');
/** Files the workers share: prepared data, exported weights, the ONNX model. */
export const WORK_DIR = join(OUT_DIR, 'work');
export const RESULT_PREFIX = 'BENCH_RESULT ';

export function ensureDir(dir) {
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Parses `--name value` and `--flag` arguments into an object (values as strings or true). */
export function parseArgs(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      out._.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = true;
  }
  return out;
}

/** A worker's answer: one line on stdout, so logs on stderr never corrupt it. */
export function emitResult(result) {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

/** Prepared uint8 32x32 images written by the harness's setup step (`bench-lenet.mjs setup`). */
export function readPrepared(split, count) {
  const images = new Uint8Array(readFileSync(join(WORK_DIR, `${split}-32.u8`)));
  const n = Math.min(count ?? Number.POSITIVE_INFINITY, images.length / 1024);
  return { images: images.subarray(0, n * 1024), count: n };
}

/** Normalises uint8 pixels like ToTensor + Normalize in float32 (lenet-mnist's lookup table). */
export function normalizeU8(images, mean = 0.1307, std = 0.3081) {
  const table = new Float32Array(256);
  const m = Math.fround(mean);
  const s = Math.fround(std);
  for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = table[images[i]];
  return out;
}

/** Times `fn` `n` times (awaiting each call) and returns the per-call milliseconds. */
export async function timeCalls(n, fn) {
  const times = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    times[i] = performance.now() - t;
  }
  return times;
}

/** Softmax rows -> the argmax of every row and the first `rows` rows rounded, for cross-checks. */
export function summarizeProbs(probs, n, rows) {
  const argmax = new Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (probs[r * 10 + c] > probs[r * 10 + best]) best = c;
    argmax[r] = best;
  }
  const head = [];
  for (let r = 0; r < Math.min(rows, n); r++) {
    head.push(Array.from(probs.subarray(r * 10, r * 10 + 10), (v) => Number(v.toFixed(7))));
  }
  return { argmax, probs: head };
}

/**
 * The onnxruntime peers' measurement (web and node builds alike): `batch` normalised test digits
 * prepared outside the timing, then the median of `reps` session.run calls on the batch and of
 * `singles` on one digit, after a warm-up. Returns the batch's last output with the timings.
 */
export async function timeOnnxSession(ort, session, { batch, reps, singles }) {
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  const { images, count } = readPrepared('test', batch);
  const x = normalizeU8(images);
  const one = x.slice(0, 1024);
  const run = async (data, n) => {
    const out = await session.run({ [inputName]: new ort.Tensor('float32', data, [n, 1, 32, 32]) });
    return out[outputName].data;
  };
  for (let i = 0; i < 3; i++) await run(x, count);
  for (let i = 0; i < 50; i++) await run(one, 1);
  let output;
  const batchTimes = await timeCalls(reps, async () => {
    output = await run(x, count);
  });
  const singleTimes = await timeCalls(singles, () => run(one, 1));
  const batchMs = median(batchTimes);
  return {
    output,
    count,
    batchImagesPerSecond: (count * 1000) / batchMs,
    batchMs,
    singleMs: median(singleTimes),
  };
}

/**
 * Compiles AssemblyScript `source` in memory with scripts/build-wasm.mjs's flags (plain SIMD, or
 * relaxed SIMD too); modules it imports come from asm/ as they are. `extraArgs`: more asc flags.
 * Returns the binary.
 */
export async function compileAssemblyScript(source, { relaxed = false, extraArgs = [] } = {}) {
  const { default: asc } = await import('assemblyscript/asc');
  const entry = 'entry.ts';
  let binary;
  const { error, stderr } = await asc.main(
    [entry, ...ASC_FLAGS, ...(relaxed ? RELAXED_FLAGS : []), ...extraArgs, '--outFile', 'out.wasm'],
    {
      readFile: (name) => {
        if (name === entry) return source;
        const path = join(ROOT, 'asm', name);
        return existsSync(path) ? readFileSync(path, 'utf8') : null;
      },
      writeFile: (name, contents) => {
        if (name === 'out.wasm') binary = contents;
      },
      listFiles: () => [],
    },
  );
  if (error) throw new Error(`${error.message}\n${stderr.toString()}`);
  return binary;
}
