import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelFile } from '../../src/engine/io.js';
import { createMlp } from '../../src/engine/mlp.js';
import { importPyTorchStateDict, readPyTorchStateDict } from '../../src/interop/pytorch.js';
import { runCli } from '../helpers/cli.js';

const fixture = (name: string) => new URL(`../fixtures/torch/${name}`, import.meta.url).pathname;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lenet-mnist-interop-cli-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The built CLI's subcommand; resolves with stdout, rejects with the exit code and stderr. */
async function cli(...args: string[]): Promise<string> {
  const result = await runCli(args);
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

describe('lenet-mnist import', () => {
  it('converts the reference LeNet .pt into a weights file with the same weights', async () => {
    const out = join(tmp, 'lenet.weights');
    expect(await cli('import', fixture('lenet.pt'), '--out', out)).toMatch(
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
    await cli(
      'import',
      fixture('lenet-sketch.safetensors'),
      `--out=${out}`,
      '--pooling',
      'avg',
      '--conv2-activation',
    );
    const saved = await loadModelFile(out);
    expect(saved.spec).toMatchObject({ pooling: 'avg', conv2Activation: true });
    saved.dispose();
  });

  it('refuses a hostile file and bad command lines with typed errors', async () => {
    // Runtime failures exit 1 with the library's message; bad usage exits 2 before any work.
    await expect(
      cli('import', fixture('hostile-system.pt'), '--out', join(tmp, 'x')),
    ).rejects.toThrow(/exit 1: .*refers to 'posix\.system'.*refused, nothing was executed/s);
    await expect(cli('import', fixture('missing-key.pt'), '--out', join(tmp, 'x'))).rejects.toThrow(
      /exit 1: .*missing key 'fc2\.bias'/s,
    );
    await expect(cli('import')).rejects.toThrow(/exit 2: .*takes one file/s);
    await expect(cli('import', fixture('lenet.pt'), '--pooling', 'min')).rejects.toThrow(
      /exit 2: .*--pooling must be/s,
    );
  });

  it('--help describes the command', async () => {
    const help = await cli('import', '--help');
    expect(help).toContain('Usage: lenet-mnist import');
    expect(help).toContain('--conv2-activation');
  });
});

describe('lenet-mnist export', () => {
  it('writes pytorch, safetensors and onnx files from a weights file', async () => {
    const model = await createMlp({ seed: 1, hidden: [8] });
    const weights = join(tmp, 'mlp.weights');
    await writeFile(weights, await model.save());
    const pt = join(tmp, 'mlp.pt');
    expect(await cli('export', weights, '--format', 'pytorch', '--out', pt)).toMatch(
      /Exported .*mlp\.weights \(MLP 784-8-10, relu, 6,370 parameters\) as pytorch/,
    );
    expect(readPyTorchStateDict(await readFile(pt)).map((t) => [t.name, t.shape])).toEqual([
      ['fc1.weight', [8, 784]],
      ['fc1.bias', [8]],
      ['fc2.weight', [10, 8]],
      ['fc2.bias', [10]],
    ]);
    const onnx = join(tmp, 'mlp.onnx');
    await cli('export', weights, '--format=onnx', '--out', onnx);
    expect((await readFile(onnx)).length).toBeGreaterThan(6370 * 4);
    model.dispose();
  });

  it('exports the pretrained LeNet, and rejects a bad format', async () => {
    const out = join(tmp, 'pretrained.pt');
    await cli('export', '--pretrained', '--out', out);
    expect(readPyTorchStateDict(await readFile(out))).toHaveLength(10);
    await expect(cli('export', '--format', 'keras')).rejects.toThrow(/exit 2: .*--format must be/s);
    expect(await cli('export', '--help')).toContain('Usage: lenet-mnist export');
  });
});
