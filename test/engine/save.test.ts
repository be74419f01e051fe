import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadModelFile, saveModelFile } from '../../src/engine/io.js';
import { createLeNet } from '../../src/engine/lenet.js';
import type { Model } from '../../src/engine/types.js';
import { OptionError } from '../../src/errors.js';
import { decodeWeights } from '../../src/model/weights.js';
import { platform } from '../../src/platform/index.js';

let tmp: string;
let model: Model;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lenet-mnist-save-'));
  await initBackend({ backend: 'wasm' });
  model = await createLeNet({ seed: 1 });
});

afterAll(async () => {
  model?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('saveModelFile', () => {
  it('100 concurrent saves to one path all succeed and leave one valid file, no temp files', async () => {
    const dir = join(tmp, 'concurrent');
    const path = join(dir, 'lenet.weights');
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => saveModelFile(model, path, { save: i })),
    );
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(await readdir(dir)).toEqual(['lenet.weights']);
    const { header } = decodeWeights(await readFile(path), path);
    expect(header.metadata?.save).toEqual(expect.any(Number));
    const loaded = await loadModelFile(path);
    loaded.dispose();
  });

  it('removes its temporary file when the write fails, and keeps the old file', async () => {
    const dir = join(tmp, 'failing');
    // The target is a non-empty folder: the rename fails after the data was written.
    const target = join(dir, 'occupied.weights');
    await mkdir(join(target, 'inside'), { recursive: true });
    await expect(saveModelFile(model, target)).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['occupied.weights']);

    // An existing file survives a failed overwrite at the platform level too.
    const keep = join(dir, 'keep.bin');
    await writeFile(keep, 'old');
    await expect(
      platform.writeFile(keep, { length: 3 } as unknown as Uint8Array),
    ).rejects.toThrow();
    expect(await readFile(keep, 'utf8')).toBe('old');
    expect((await readdir(dir)).sort()).toEqual(['keep.bin', 'occupied.weights']);
  });

  it('validates its arguments before writing anything', async () => {
    const path = join(tmp, 'never.weights');
    await expect(
      saveModelFile(model, path, 'abc' as unknown as Record<string, unknown>),
    ).rejects.toThrow(OptionError);
    await expect(
      saveModelFile(model, path, [1, 2] as unknown as Record<string, unknown>),
    ).rejects.toThrow(/metadata must be a plain object/);
    await expect(saveModelFile(model, path, { n: 1n } as Record<string, unknown>)).rejects.toThrow(
      /metadata must be JSON-serialisable/,
    );
    await expect(saveModelFile(model, '')).rejects.toThrow(OptionError);
    await expect(saveModelFile({} as Model, path)).rejects.toThrow(OptionError);
    await expect(loadModelFile('')).rejects.toThrow(OptionError);
    await expect(readdir(tmp)).resolves.not.toContain('never.weights');
  });
});
