#!/usr/bin/env node
// Runs one hostile case of issue 24 in this (fresh) process and prints one JSON line:
// { case, outcome: 'error' | 'ok', name, message, ms, growthMB }. `growthMB` is the peak RSS
// over the process's own baseline (taken after the library was imported and the file built),
// so a parent compares cases without measuring its own heap. Used by test/hostile-inputs.test.ts
// and scripts/hostile-campaign.mjs; needs `npm run build` (the library is read from dist/).
//
//   node scripts/hostile-run.mjs <case> [tmpdir]
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as files from './hostile-files.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
// The root entry and the subpaths (lenet-mnist/data, lenet-mnist/interop) as one namespace.
const lib = {
  ...(await import(join(root, 'dist/index.js'))),
  ...(await import(join(root, 'dist/data.js'))),
  ...(await import(join(root, 'dist/interop.js'))),
};
const MB = 2 ** 20;

/** The CLI's image decoder (not part of the library's API), bundled from source once. */
async function imageDecoder() {
  const esbuild = await import('esbuild');
  // Inside the package, so that its bare imports (pngjs, jpeg-js) resolve from node_modules.
  const out = join(root, 'node_modules/.cache/lenet-hostile', `images-${process.pid}.mjs`);
  await esbuild.build({
    entryPoints: [join(root, 'src/cli/images.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: out,
    logLevel: 'silent',
  });
  try {
    return await import(out);
  } finally {
    await rm(out, { force: true });
  }
}

/** A sparse file of `size` bytes starting with `head`. */
async function sparseFile(dir, name, size, head) {
  const path = join(dir, name);
  const fh = await open(path, 'w');
  await fh.write(head, 0, head.length, 0);
  await fh.truncate(size);
  await fh.close();
  return path;
}

const weightsPreamble = (headerLength) => {
  const b = Buffer.alloc(12);
  b.write('LNMW', 0, 'latin1');
  b.writeUInt32LE(1, 4);
  b.writeUInt32LE(headerLength, 8);
  return b;
};

/** Each case: builds its input (untimed), returns the work to time. */
const CASES = {
  // Baselines: benign inputs of each kind.
  'baseline-noop': async () => () => undefined,
  'baseline-png': async () => {
    const { decodeImage } = await imageDecoder();
    const bytes = files.pngSquare(64);
    return () => decodeImage(bytes, 'square.png');
  },
  // Item 3: images.
  'png-69-bytes-65535': async () => {
    const { decodeImage } = await imageDecoder();
    const bytes = files.pngDeclaring(65535, 65535);
    return () => decodeImage(bytes, 'tiny.png');
  },
  'png-bomb-32768': async () => {
    const { decodeImage } = await imageDecoder();
    const bytes = files.pngBomb(32768);
    return () => decodeImage(bytes, 'bomb.png');
  },
  'png-20000': async () => {
    const { decodeImage } = await imageDecoder();
    const bytes = files.pngDeclaring(20000, 20000);
    return () => decodeImage(bytes, 'big.png');
  },
  'png-8192-rgba16': async () => {
    const { decodeImage } = await imageDecoder();
    const bytes = files.pngDeclaring(8192, 8192, { bitDepth: 16, colorType: 6 });
    return () => decodeImage(bytes, 'deep.png');
  },
  'jpeg-sof-8192': async () => {
    const { decodeImage } = await imageDecoder();
    const bytes = files.jpegDeclaring(8192, 8192);
    return () => decodeImage(bytes, 'claim.jpg');
  },
  // Item 4: PyTorch files.
  'pt-600-keys-one-storage': async () => {
    const bytes = files.ptSharedStorage(600, MB);
    return () => lib.importPyTorchStateDict(bytes, { source: 'shared.pt' });
  },
  'pt-600-overlapping-views': async () => {
    const bytes = files.ptSharedStorage(600, MB, { distinct: true });
    return () => lib.importPyTorchStateDict(bytes, { source: 'views.pt' });
  },
  'pickle-16MB-marks': async () => {
    const bytes = files.pickleMarks(16 * MB);
    return () => lib.readPyTorchStateDict(bytes, 'marks.pt');
  },
  'zip-2000-records-1MiB': async () => {
    const bytes = files.zipManyRecords(2000, MB);
    return () => lib.readPyTorchStateDict(bytes, 'records.pt');
  },
  // Item 5: safetensors.
  'safetensors-2000-aliases': async () => {
    const bytes = files.safetensorsAliased(2000, MB);
    return () => lib.readSafetensors(bytes, 'aliases.safetensors');
  },
  'safetensors-10MB-nested': async () => {
    const bytes = files.safetensorsNested(5 * MB);
    return () => lib.readSafetensors(bytes, 'nested.safetensors');
  },
  'safetensors-4MB-nested': async () => {
    const bytes = files.safetensorsNested(2 * MB);
    return () => lib.readSafetensors(bytes, 'nested.safetensors');
  },
  // Item 8: files.
  'weights-1.5GB-bad-magic': async (dir) => {
    const path = await sparseFile(dir, 'big.weights', 1.5 * 2 ** 30, Buffer.from('XXXX'));
    return () => lib.loadModelFile(path);
  },
  'weights-1.5GB-good-header': async (dir) => {
    const model = await lib.createLeNet({ seed: 1 });
    const bytes = await model.save();
    model.dispose();
    const path = await sparseFile(dir, 'padded.weights', 1.5 * 2 ** 30, bytes);
    return () => lib.loadModelFile(path);
  },
  'checkpoint-1.5GB-bad-magic': async (dir) => {
    const path = await sparseFile(dir, 'big.ckpt', 1.5 * 2 ** 30, Buffer.from('XXXX'));
    return () => lib.loadCheckpointFile(path);
  },
  'weights-dev-zero': async () => () => lib.loadModelFile('/dev/zero'),
  'checkpoint-dev-zero': async () => () => lib.loadCheckpointFile('/dev/zero'),
  'weights-huge-header-length': async (dir) => {
    const path = await sparseFile(dir, 'hdr.weights', 64 * MB, weightsPreamble(0xffffffff));
    return () => lib.loadModelFile(path);
  },
  'idx-gzip-2^31x2^31': async () => {
    const bytes = gzipSync(files.idxHeaderOnly([2 ** 31, 2 ** 31]));
    return () => lib.decodeIdx(bytes, { source: 'huge.idx.gz' });
  },
};

export const CASE_NAMES = Object.keys(CASES);

/** A LenetMnistError subclass, also from a separately bundled copy of the library's code. */
function isLibraryError(err) {
  if (err instanceof lib.LenetMnistError) return true;
  for (let p = Object.getPrototypeOf(err ?? {}); p !== null; p = Object.getPrototypeOf(p)) {
    if (p.constructor?.name === 'LenetMnistError') return true;
  }
  return false;
}

async function main() {
  const name = process.argv[2];
  const build = CASES[name];
  if (build === undefined) {
    console.error(`unknown case ${name}; cases: ${CASE_NAMES.join(', ')}`);
    process.exit(2);
  }
  const dir = process.argv[3] ?? (await mkdtemp(join(tmpdir(), 'lenet-hostile-')));
  try {
    const work = await build(dir);
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    let sampled = before;
    const timer = setInterval(() => {
      sampled = Math.max(sampled, process.memoryUsage().rss);
    }, 2);
    const maxBefore = process.resourceUsage().maxRSS * 1024;
    const t0 = performance.now();
    let result;
    try {
      await work();
      result = { outcome: 'ok' };
    } catch (err) {
      result = {
        outcome: 'error',
        name: err?.constructor?.name ?? typeof err,
        typed: isLibraryError(err),
        message: String(err?.message ?? err),
      };
    }
    const ms = performance.now() - t0;
    clearInterval(timer);
    sampled = Math.max(sampled, process.memoryUsage().rss);
    const maxAfter = process.resourceUsage().maxRSS * 1024;
    const peak = Math.max(sampled, maxAfter > maxBefore ? maxAfter : before);
    console.log(JSON.stringify({ case: name, ...result, ms, growthMB: (peak - before) / MB }));
  } finally {
    if (process.argv[3] === undefined) await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
