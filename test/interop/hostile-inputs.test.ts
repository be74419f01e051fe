// Issue 24, items 3-6 and 8: hostile files end in a typed LenetMnistError naming what was
// wrong, each in under 2 s and under 150 MB of peak memory over its process's baseline (each
// case runs in a fresh process: scripts/hostile-run.mjs, on the built dist/). The long campaign
// is scripts/hostile-campaign.mjs (not in the default run).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as files from '../../scripts/hostile-files.mjs';
import { decodeImage, ImageFileError } from '../../src/cli/images.js';
import { createMlp } from '../../src/engine/mlp.js';
import { LenetMnistError } from '../../src/errors.js';
import { InteropFormatError, StateDictError } from '../../src/interop/errors.js';
import { exportPyTorchStateDict, importPyTorchStateDict } from '../../src/interop/pytorch.js';
import {
  exportSafetensors,
  importSafetensors,
  readSafetensors,
} from '../../src/interop/safetensors.js';
import { runCli } from '../helpers/cli.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const MB = 2 ** 20;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lenet-mnist-hostile-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

interface CaseResult {
  case: string;
  outcome: 'ok' | 'error';
  name?: string;
  typed?: boolean;
  message?: string;
  ms: number;
  growthMB: number;
}

async function hostile(name: string): Promise<CaseResult> {
  if (!existsSync(join(root, 'dist/index.js'))) throw new Error('run `npm run build` first');
  const { stdout } = await run(
    process.execPath,
    ['--expose-gc', join(root, 'scripts/hostile-run.mjs'), name, tmp],
    { timeout: 60_000, maxBuffer: 4 * MB },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as CaseResult;
}

// [case, error class name, what the message must say]
const CASES: [string, string, RegExp][] = [
  ['png-69-bytes-65535', 'ImageFileError', /tiny\.png: a PNG of 65,535 x 65,535 pixels/],
  ['png-bomb-32768', 'ImageFileError', /bomb\.png: a PNG of 32,768 x 32,768/],
  ['png-20000', 'ImageFileError', /big\.png: a PNG of 20,000 x 20,000/],
  ['png-8192-rgba16', 'ImageFileError', /deep\.png: a PNG of 8,192 x 8,192/],
  ['jpeg-sof-8192', 'ImageFileError', /claim\.jpg: a JPEG of 8,192 x 8,192/],
  ['pt-600-keys-one-storage', 'StateDictError', /shared\.pt: missing key 'fc1\.weight'/],
  ['pt-600-overlapping-views', 'InteropFormatError', /views\.pt: its tensors' views overlap/],
  ['pickle-16MB-marks', 'InteropFormatError', /marks\.pt: .*stack too deep .*marks included/],
  ['zip-2000-records-1MiB', 'InteropFormatError', /records\.pt: entries .* overlap/],
  ['safetensors-2000-aliases', 'InteropFormatError', /aliases\.safetensors: 't1'.* overlap/],
  [
    'safetensors-10MB-nested',
    'InteropFormatError',
    /nested\.safetensors: header of \d+ bytes, more than/,
  ],
  ['safetensors-4MB-nested', 'InteropFormatError', /nested\.safetensors: header nests .* deeper/],
  ['weights-1.5GB-bad-magic', 'WeightsFormatError', /big\.weights: not a lenet-mnist weights file/],
  ['weights-1.5GB-good-header', 'WeightsFormatError', /padded\.weights: payload is \d+ bytes/],
  ['checkpoint-1.5GB-bad-magic', 'CheckpointFormatError', /big\.ckpt: not a checkpoint/],
  ['weights-dev-zero', 'WeightsFormatError', /\/dev\/zero: a character device, not a weights file/],
  [
    'checkpoint-dev-zero',
    'CheckpointFormatError',
    /\/dev\/zero: a character device, not a checkpoint/,
  ],
  ['idx-gzip-2^31x2^31', 'IdxFormatError', /declares 4611686018427387916 bytes/],
];

describe('hostile files, each in a fresh process: typed error, < 2 s, < 150 MB', () => {
  test.each(CASES)('%s: %s', async (name, errorName, message) => {
    const result = await hostile(name);
    console.log(
      `${name}: ${result.name} in ${result.ms.toFixed(0)} ms, peak +${result.growthMB.toFixed(1)} MB`,
    );
    expect(result.outcome).toBe('error');
    expect(result.name).toBe(errorName);
    expect(result.typed).toBe(true);
    expect(result.message).toMatch(message);
    expect(result.ms).toBeLessThan(2000);
    expect(result.growthMB).toBeLessThan(150);
  });

  test('a benign PNG decodes within the same limits', async () => {
    const result = await hostile('baseline-png');
    expect(result.outcome).toBe('ok');
    expect(result.growthMB).toBeLessThan(150);
  });
});

describe('images (item 3)', () => {
  test('ImageFileError is a LenetMnistError and names the file', () => {
    const err = (() => {
      try {
        decodeImage(files.pngDeclaring(0, 5), 'zero.png');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ImageFileError);
    expect(err).toBeInstanceOf(LenetMnistError);
    expect((err as Error).message).toMatch(/^zero\.png: a damaged PNG: it declares 0 x 5 pixels/);
  });

  test.each([
    [{ bitDepth: 16, colorType: 3 }, /bit depth 16 is not allowed with colour type 3/],
    [{ bitDepth: 8, colorType: 5 }, /colour type 5 does not exist/],
  ])('an impossible IHDR (%o) is refused before inflating', (ihdr, message) => {
    expect(() => decodeImage(files.pngDeclaring(10, 10, ihdr), 'odd.png')).toThrow(message);
  });

  test('a truncated PNG is an ImageFileError that names the file, never a format string', () => {
    const bytes = files.pngSquare(16).subarray(0, 40);
    expect(() => decodeImage(bytes, 'broken.png')).toThrow(ImageFileError);
    expect(() => decodeImage(bytes, 'broken.png')).toThrow(/^broken\.png: not a readable PNG/);
    expect(() => decodeImage(bytes, 'broken.png')).not.toThrow(/number 0x/);
  });

  test('16-bit PNGs within the limit still decode', () => {
    const idat = new Uint8Array(16 * (1 + 16 * 2));
    const png = files.pngDeclaring(16, 16, {
      bitDepth: 16,
      colorType: 0,
      idat: deflateSync(idat),
    });
    const image = decodeImage(png, 'deep.png');
    expect([image.width, image.height, image.data.length]).toEqual([16, 16, 16 * 16 * 4]);
  });

  test('the CLI names the file of an oversized image', async () => {
    const path = join(tmp, 'huge.png');
    await writeFile(path, files.pngDeclaring(65535, 65535));
    const result = await runCli(['predict', path]);
    expect(result.stderr + result.stdout).toMatch(/huge\.png: a PNG of 65,535 x 65,535 pixels/);
  });
});

describe('PyTorch files (item 4)', () => {
  test('keys that share one view share one copy; the file still imports if the keys fit', async () => {
    const bytes = files.ptSharedStorage(600, MB);
    const err = await importPyTorchStateDict(bytes, { source: 's.pt' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDictError);
  });

  test('a real export still round-trips', async () => {
    const model = await createMlp({ hidden: [8], seed: 1 });
    const copy = await importPyTorchStateDict(await exportPyTorchStateDict(model));
    expect(copy.getWeights()).toEqual(model.getWeights());
    model.dispose();
    copy.dispose();
  });
});

describe('safetensors (item 5)', () => {
  test("fc2.weight pointing at fc1's bytes is refused, not imported with wrong weights", async () => {
    const model = await createMlp({ hidden: [4], inputSize: 2, seed: 1 });
    const bytes = await exportSafetensors(model);
    const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
    // fc2.weight is [10, 4] = 160 bytes; fc1.weight [4, 4] = 64 bytes. Point fc2 at fc1's
    // bytes plus what follows, a region of the right size that overlaps fc1.
    const fc1 = header['fc1.weight'].data_offsets as [number, number];
    header['fc2.weight'].data_offsets = [fc1[0], fc1[0] + 160];
    const forged = files.safetensors(header, bytes.subarray(8 + length));
    const err = await importSafetensors(forged, { source: 'forged.safetensors' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InteropFormatError);
    expect((err as Error).message).toMatch(/forged\.safetensors: .* overlap|leave bytes/);
    model.dispose();
  });

  test('offsets must cover the data exactly: a gap or trailing bytes are refused', () => {
    const gap = files.safetensors(
      { a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } },
      new Uint8Array(8),
    );
    expect(() => readSafetensors(gap, 'gap')).toThrow(/leave bytes 0\.\.4 unused/);
    const tail = files.safetensors(
      { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } },
      new Uint8Array(8),
    );
    expect(() => readSafetensors(tail, 'tail')).toThrow(/cover 4 of the 8 data bytes/);
  });

  test('a file that is no safetensors says so (lenet-mnist import text.png)', async () => {
    const path = join(tmp, 'text.png');
    await writeFile(path, 'This is a text file, not a model.\n');
    const result = await runCli(['import', path, '--out', join(tmp, 'x.weights')]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /text\.png: neither a PyTorch file \(a zip archive or a pickle\) nor a safetensors file/,
    );
    expect(() => readSafetensors(new TextEncoder().encode('This is a text.'), 'text.png')).toThrow(
      /text\.png: not a safetensors file/,
    );
  });
});

describe('imported files that imply no buildable model (item 6)', () => {
  const mlpFile = (widths: number[]) => {
    const header: Record<string, unknown> = {};
    let offset = 0;
    let inputs = 4;
    widths.forEach((w, i) => {
      const bytes = w * inputs * 4;
      header[`fc${i + 1}.weight`] = {
        dtype: 'F32',
        shape: [w, inputs],
        data_offsets: [offset, offset + bytes],
      };
      offset += bytes;
      header[`fc${i + 1}.bias`] = {
        dtype: 'F32',
        shape: [w],
        data_offsets: [offset, offset + w * 4],
      };
      offset += w * 4;
      inputs = w;
    });
    return files.safetensors(header, new Uint8Array(offset));
  };

  test('17 hidden layers: StateDictError naming the layer', async () => {
    const err = await importSafetensors(mlpFile([...Array(17).fill(2), 10]), {
      source: 'deep.safetensors',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDictError);
    expect((err as StateDictError).key).toBe('fc18.weight');
    expect((err as Error).message).toMatch(/at most 16 hidden layers/);
  });

  test('a width of 0: StateDictError naming the layer', async () => {
    const err = await importSafetensors(mlpFile([0, 10]), { source: 'zero.safetensors' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StateDictError);
    expect((err as StateDictError).key).toBe('fc1.weight');
  });
});
