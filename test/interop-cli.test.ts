import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../src/cli/args.js';
import { runExport, runImport } from '../src/cli/interop.js';
import { loadModelFile } from '../src/engine/io.js';
import { createMlp } from '../src/engine/mlp.js';
import { StateDictError, UnsafePickleError } from '../src/interop/errors.js';
import { importPyTorchStateDict, readPyTorchStateDict } from '../src/interop/pytorch.js';

const fixture = (name: string) => new URL(`./fixtures/torch/${name}`, import.meta.url).pathname;
let tmp: string;
const logs: string[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lenet-mnist-interop-cli-'));
  vi.spyOn(console, 'log').mockImplementation((...args) => {
    logs.push(args.join(' '));
  });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await rm(tmp, { recursive: true, force: true });
});

describe('lenet-mnist import', () => {
  it('converts the reference LeNet .pt into a weights file with the same weights', async () => {
    const out = join(tmp, 'lenet.weights');
    await runImport([fixture('lenet.pt'), '--out', out]);
    expect(logs.at(-1)).toMatch(
      /Imported .*lenet\.pt \(PyTorch state_dict\): LeNet 32x32, max pooling, relu, 61,706 parameters -> .*lenet\.weights/,
    );
    const saved = await loadModelFile(out);
    const direct = await importPyTorchStateDict(await readFile(fixture('lenet.pt')));
    expect(saved.getWeights()).toEqual(direct.getWeights());
    expect(saved.metadata).toMatchObject({ importedFrom: 'pytorch' });
    saved.dispose();
    direct.dispose();
  });

  it('reads safetensors (detected from the content) with the sketch options', async () => {
    const out = join(tmp, 'sketch.weights');
    await runImport([
      fixture('lenet-sketch.safetensors'),
      `--out=${out}`,
      '--pooling',
      'avg',
      '--conv2-activation',
    ]);
    const saved = await loadModelFile(out);
    expect(saved.spec).toMatchObject({ pooling: 'avg', conv2Activation: true });
    saved.dispose();
  });

  it('refuses a hostile file and bad command lines with typed errors', async () => {
    await expect(
      runImport([fixture('hostile-system.pt'), '--out', join(tmp, 'x')]),
    ).rejects.toBeInstanceOf(UnsafePickleError);
    await expect(
      runImport([fixture('missing-key.pt'), '--out', join(tmp, 'x')]),
    ).rejects.toBeInstanceOf(StateDictError);
    await expect(runImport([])).rejects.toBeInstanceOf(UsageError);
    await expect(runImport([fixture('lenet.pt'), '--pooling', 'min'])).rejects.toThrow(
      /--pooling must be max, avg/,
    );
  });

  it('--help describes the command', async () => {
    await runImport(['--help']);
    expect(logs.at(-1)).toContain('Usage: lenet-mnist import');
    expect(logs.at(-1)).toContain('--conv2-activation');
  });
});

describe('lenet-mnist export', () => {
  it('writes pytorch, safetensors and onnx files from a weights file', async () => {
    const model = await createMlp({ seed: 1, hidden: [8] });
    const weights = join(tmp, 'mlp.weights');
    await writeFile(weights, await model.save());
    const pt = join(tmp, 'mlp.pt');
    await runExport([weights, '--format', 'pytorch', '--out', pt]);
    expect(logs.at(-1)).toMatch(
      /Exported .*mlp\.weights \(MLP 784-8-10, relu, 6,370 parameters\) as pytorch/,
    );
    expect(readPyTorchStateDict(await readFile(pt)).map((t) => [t.name, t.shape])).toEqual([
      ['fc1.weight', [8, 784]],
      ['fc1.bias', [8]],
      ['fc2.weight', [10, 8]],
      ['fc2.bias', [10]],
    ]);
    const onnx = join(tmp, 'mlp.onnx');
    await runExport([weights, '--format=onnx', '--out', onnx]);
    expect((await readFile(onnx)).length).toBeGreaterThan(6370 * 4);
    model.dispose();
  });

  it('exports the pretrained LeNet, and rejects a bad format', async () => {
    const out = join(tmp, 'pretrained.pt');
    await runExport(['--pretrained', '--out', out]);
    expect(readPyTorchStateDict(await readFile(out))).toHaveLength(10);
    await expect(runExport(['--format', 'keras'])).rejects.toThrow(
      /--format must be pytorch, safetensors, onnx/,
    );
    await runExport(['--help']);
    expect(logs.at(-1)).toContain('Usage: lenet-mnist export');
  });
});
