/**
 * One option-check vocabulary (issue 21): every public options object rejects unknown keys with
 * an OptionError naming the closest valid one; values found are named with their type; every
 * rule a message states is the rule the code checks.
 */
import { describe, expect, test } from 'vitest';
import { batches, decodeIdx, firstImages, formatDigitHex, toImageSet } from '../src/data/index.js';
import { checkLeNetInputSize } from '../src/engine/lenet.js';
import {
  createLeNet,
  createMlp,
  createPredictor,
  evaluate,
  formatDigitAscii,
  initBackend,
  LenetMnistError,
  loadImageSet,
  loadMnist,
  OptionError,
  type PreparedSet,
  parseIdx,
  plotHistory,
  prepareImages,
  splitValidation,
  train,
  trainInWorker,
} from '../src/index.js';
import { importSafetensors } from '../src/interop/index.js';
import {
  checkChoice,
  checkInt,
  checkOptionKeys,
  closestName,
  describeValue,
  optionKeys,
} from '../src/options.js';
import { cosineSchedule, oneCycleSchedule, stepSchedule } from '../src/schedules.js';

/** A tiny prepared set: 8 images of 32x32 with labels 0-7. */
function tinySet(count = 8): PreparedSet {
  return {
    count,
    height: 32,
    width: 32,
    images: new Uint8Array(count * 32 * 32).map((_, i) => (i * 7) % 256),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
    mean: 0.1307,
    std: 0.3081,
  };
}

const idxLabels = Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 2, 3, 4]);

/** Rejects (sync or async) with an OptionError whose message matches. */
async function rejectsWith(run: () => unknown, message: string | RegExp): Promise<OptionError> {
  let caught: unknown;
  try {
    await run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(OptionError);
  expect(caught).toBeInstanceOf(LenetMnistError);
  expect((caught as Error).message).toMatch(message);
  return caught as OptionError;
}

describe('the vocabulary', () => {
  test('describeValue names the type of what was found', () => {
    expect(describeValue('1')).toBe('the string "1"');
    expect(describeValue(1)).toBe('1');
    expect(describeValue(Number.NaN)).toBe('NaN');
    expect(describeValue(true)).toBe('true');
    expect(describeValue(null)).toBe('null');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(2n)).toBe('the bigint 2n');
    expect(describeValue([1, 2, 3])).toBe('an array of 3 items');
    expect(describeValue(new Float32Array(10))).toBe('a Float32Array of 10 elements');
    expect(describeValue({})).toBe('an object');
    expect(describeValue(new Map())).toBe('an object (Map)');
    expect(describeValue(() => 1)).toBe('a function');
    expect(describeValue('x'.repeat(50))).toBe(`the string "${'x'.repeat(40)}..."`);
  });

  test('closestName finds typos and prefixes, and nothing for unrelated names', () => {
    const keys = ['epochs', 'batchSize', 'learningRate', 'limitBatches'];
    expect(closestName('epoch', keys)).toBe('epochs');
    expect(closestName('batchsize', keys)).toBe('batchSize');
    expect(closestName('batch_size', keys)).toBe('batchSize');
    expect(closestName('learningrate', keys)).toBe('learningRate');
    expect(closestName('limit', keys)).toBe('limitBatches');
    expect(closestName('zzz', keys)).toBeUndefined();
    expect(closestName('frobnicate', keys)).toBeUndefined();
  });

  test('checkOptionKeys: the closest key, else the list of valid keys; nested paths', () => {
    const keys = ['alpha', 'beta'];
    expect(() => checkOptionKeys('f', { alpah: 1 }, keys)).toThrow(
      'f: unknown option "alpah" (did you mean "alpha"?)',
    );
    expect(() => checkOptionKeys('f', { omega: 1 }, keys)).toThrow(
      'f: unknown option "omega" (valid options: alpha, beta)',
    );
    const err = (() => {
      try {
        checkOptionKeys('f', { bta: 1 }, keys, 'inner.');
      } catch (e) {
        return e as OptionError;
      }
    })();
    expect(err?.option).toBe('inner.bta');
    expect(err?.message).toBe('f: unknown option "inner.bta" (did you mean "inner.beta"?)');
    expect(() => checkOptionKeys('f', null, keys)).toThrow(
      'f: options must be an object, got null',
    );
    expect(() => checkOptionKeys('f', { alpha: 1, beta: 2 }, keys)).not.toThrow();
    // A key set to undefined asks for nothing: `{ ...settings, size: undefined }` passes.
    expect(() => checkOptionKeys('f', { alpha: 1, size: undefined }, keys)).not.toThrow();
  });

  test('integer and choice messages state the rule checked and the value found', () => {
    expect(() => checkInt('f', 'n', '1', 0)).toThrow(
      'f: n must be an integer >= 0, got the string "1"',
    );
    expect(() => checkInt('f', 'n', 300, 1, 256)).toThrow(
      'f: n must be an integer from 1 to 256, got 300',
    );
    expect(() => checkChoice('f', 'mode', 'fats', ['fast', 'slow'])).toThrow(
      'f: mode must be "fast" or "slow", got the string "fats" (did you mean "fast"?)',
    );
  });

  test('optionKeys lists are checked both ways at compile time', () => {
    interface Two {
      a?: number;
      b?: string;
    }
    expect(optionKeys<Two>()(['a', 'b'])).toEqual(['a', 'b']);
    // @ts-expect-error: 'b' is left out (the compiler reports { missing: 'b' })
    optionKeys<Two>()(['a']);
    // @ts-expect-error: 'c' is not a key of Two
    optionKeys<Two>()(['a', 'b', 'c']);
  });
});

describe('issue 21 symptoms', () => {
  test('train(m, d, { epochs: 1, limit: 5000 }) is refused before any work, not ignored', async () => {
    const model = await createLeNet({ seed: 1 });
    let batchesRun = 0;
    const err = await rejectsWith(
      () =>
        train(model, tinySet(), {
          epochs: 1,
          limit: 5000,
          onBatchEnd: () => {
            batchesRun++;
          },
        } as never),
      /^train: unknown option "limit" \(valid options: recipe, epochs, batchSize, .*onTrainEnd\)$/,
    );
    expect(err.option).toBe('limit');
    expect(batchesRun).toBe(0);
    await rejectsWith(
      () => train(model, tinySet(), { epoch: 1 } as never),
      'train: unknown option "epoch" (did you mean "epochs"?)',
    );
    await rejectsWith(
      () => train(model, tinySet(), { earlyStopping: { patience: 1, minDelt: 0 } } as never),
      'train: unknown option "earlyStopping.minDelt" (did you mean "earlyStopping.minDelta"?)',
    );
    await rejectsWith(
      () => train(model, tinySet(), { augment: { rotaton: 5 } } as never),
      'unknown option "augment.rotaton" (did you mean "augment.rotation"?)',
    );
    model.dispose();
  });

  test("epochs: '1' names the string it found", async () => {
    const model = await createLeNet({ seed: 1 });
    await rejectsWith(
      () => train(model, tinySet(), { epochs: '1' } as never),
      'epochs must be an integer >= 0, got the string "1"',
    );
    await rejectsWith(
      () => train(model, tinySet(), { shuffle: 'yes' } as never),
      'shuffle must be true or false, got the string "yes"',
    );
    await rejectsWith(
      () => train(model, tinySet(), { beta1: '0.9' } as never),
      'beta1 must be a number in [0, 1), got the string "0.9"',
    );
    await rejectsWith(
      () => train(model, tinySet(), { onEpochEnd: 'log' } as never),
      'onEpochEnd must be a function, got the string "log"',
    );
    model.dispose();
  });

  test('createLeNet states the inputSize rule it checks: 4100 is out of range, and says so', async () => {
    await rejectsWith(
      () => createLeNet({ inputSize: 4100 }),
      'createLeNet: inputSize must be an integer from 16 to 4096 with size - 4 divisible by 4 (e.g. 28, 32), got 4100',
    );
    // Every size the stated rule admits is accepted, every other size refused: the check
    // createLeNet runs (models are built for the small sizes; a 4096x4096 LeNet would need
    // gigabytes of weights, so the large ones go through the check alone).
    const rule = (n: number) => Number.isInteger(n) && n >= 16 && n <= 4096 && (n - 4) % 4 === 0;
    for (let n = 0; n <= 4200; n += 0.5) {
      let accepted = true;
      try {
        checkLeNetInputSize('createLeNet', 'inputSize', n);
      } catch (err) {
        expect(err).toBeInstanceOf(OptionError);
        accepted = false;
      }
      expect(accepted, `inputSize ${n}`).toBe(rule(n));
    }
    for (const n of [12, 15, 16, 20, 28, 30, 4097, 4100]) {
      const made = await createLeNet({ inputSize: n }).then(
        (m) => {
          m.dispose();
          return true;
        },
        (err: unknown) => {
          expect(err).toBeInstanceOf(OptionError);
          return false;
        },
      );
      expect(made, `inputSize ${n}`).toBe(rule(n));
    }
    await rejectsWith(
      () => createMlp({ inputSize: 5000 }),
      'createMlp: inputSize must be an integer from 1 to 4096, got 5000',
    );
    await rejectsWith(
      () => createMlp({ hidden: [64, 70000] }),
      'createMlp: hidden[1] must be an integer from 1 to 65536, got 70000',
    );
  });
});

describe('every public options object rejects an unknown key, naming the closest', () => {
  const set = tinySet();
  const cases: [string, () => unknown, string][] = [
    ['createLeNet', () => createLeNet({ pooling: 'max', poolling: 'avg' } as never), 'pooling'],
    ['createMlp', () => createMlp({ hiden: [10] } as never), 'hidden'],
    ['initBackend', () => initBackend({ thread: 1 } as never), 'threads'],
    ['loadMnist', () => loadMnist({ downlaod: true } as never), 'download'],
    [
      'loadMnist files',
      () => loadMnist({ files: { trainImage: 'x' } } as never),
      'files.trainImages',
    ],
    [
      'loadMnist sha256',
      () => loadMnist({ download: true, sha256: { testLabel: 'x' } } as never),
      'sha256.testLabels',
    ],
    ['parseIdx', () => parseIdx(idxLabels, { sorce: 'x' } as never), 'source'],
    ['decodeIdx', () => decodeIdx(idxLabels, { maxByte: 10 } as never), 'maxBytes'],
    [
      'loadImageSet',
      () => loadImageSet(idxLabels, idxLabels, { numClass: 3 } as never),
      'numClasses',
    ],
    [
      'toImageSet',
      () => toImageSet(parseIdx(idxLabels), parseIdx(idxLabels), { label: 'x' } as never),
      'labels',
    ],
    ['prepareImages', () => prepareImages(set, { sise: 32 } as never), 'size'],
    ['batches', () => batches(set, { batchSize: 2, shufle: true } as never), 'shuffle'],
    ['splitValidation', () => splitValidation(set, { size: 2, sed: 1 } as never), 'seed'],
    [
      'cosineSchedule',
      () => cosineSchedule({ peak: 1, epochs: 1, warmup: 1 } as never),
      'warmupEpochs',
    ],
    ['stepSchedule', () => stepSchedule({ rate: 1, every: 1, factr: 0.5 } as never), 'factor'],
    [
      'oneCycleSchedule',
      () => oneCycleSchedule({ peak: 1, epochs: 1, raise: 0.2 } as never),
      'rise',
    ],
    [
      'formatDigitHex',
      () => formatDigitHex(new Uint8Array(4), 2, 2, { colour: true } as never),
      'color',
    ],
    [
      'formatDigitAscii',
      () => formatDigitAscii(new Uint8Array(4), 2, 2, { ramps: ' #' } as never),
      'ramp',
    ],
    ['plotHistory', () => plotHistory({ epochs: [] }, { titel: 'x' } as never), 'title'],
    [
      'importSafetensors',
      () => importSafetensors(new Uint8Array(16), { architecure: 'mlp' } as never),
      'architecture',
    ],
    ['firstImages (a count, not an object)', () => firstImages(set, '2' as never), ''],
  ];
  test.each(cases)('%s', async (_name, run, near) => {
    if (near === '') {
      await rejectsWith(run, 'firstImages: count must be an integer >= 0, got the string "2"');
      return;
    }
    await rejectsWith(
      run,
      new RegExp(`unknown option ".*" \\(did you mean "${near.replace('.', '\\.')}"\\?\\)`),
    );
  });

  test('evaluate, createPredictor and trainInWorker too', async () => {
    const model = await createLeNet({ seed: 1 });
    await rejectsWith(
      () => evaluate(model, set, { batchsize: 8 } as never),
      'evaluate: unknown option "batchsize" (did you mean "batchSize"?)',
    );
    await rejectsWith(
      () => createPredictor(model, { invrt: true } as never),
      'createPredictor: unknown option "invrt" (did you mean "invert"?)',
    );
    // trainInWorker is browser-only, but its options are checked first, anywhere.
    await rejectsWith(
      () => trainInWorker(model, set, { workerURL: 'x' } as never),
      'trainInWorker: unknown option "workerURL" (did you mean "workerUrl"?)',
    );
    await rejectsWith(
      () => trainInWorker(model, set, { backend: { thread: 2 } } as never),
      'trainInWorker: unknown option "backend.thread" (did you mean "backend.threads"?)',
    );
    model.dispose();
  });
});

test('train and evaluate state the batch-size rule batches() checks (1 to 2^24)', async () => {
  const model = await createLeNet({ seed: 1 });
  await rejectsWith(
    () => train(model, tinySet(), { batchSize: 2 ** 25 }),
    'batchSize must be an integer from 1 to 16777216, got 33554432',
  );
  await rejectsWith(
    () => train(model, tinySet(), { validationBatchSize: 0 }),
    'validationBatchSize must be an integer from 1 to 16777216, got 0',
  );
  await rejectsWith(
    () => evaluate(model, tinySet(), { batchSize: '8' as never }),
    'batchSize must be an integer from 1 to 16777216, got the string "8"',
  );
  model.dispose();
});
