/**
 * `lenet-mnist train`: the reference tutorial's job from a terminal. Trains, logs like the
 * reference (or shows a progress bar on a terminal), saves the weights, a resumable checkpoint
 * and the curves as SVG next to them; Ctrl-C stops at the next batch and saves all of that.
 */
import { basename, dirname, extname, join } from 'node:path';
import type { ThreadsOption } from '../backend/env.js';
import { splitValidation } from '../data/batches.js';
import { type ImageSet, imageAt } from '../data/mnist.js';
import { type PreparedSet, prepareImages } from '../data/preprocess.js';
import { limit } from '../data/presets.js';
import { formatDigitAscii } from '../data/render.js';
import { chooseEngine } from '../engine/choose.js';
import { loadModelFile, saveModelFile } from '../engine/io.js';
import { createLeNet } from '../engine/lenet.js';
import { createMlp } from '../engine/mlp.js';
import { FAST_PATH_OPTIONS, type FastPathOption, type Model } from '../engine/types.js';
import { platform } from '../platform/index.js';
import { createPredictor } from '../predict/predictor.js';
import { type BatchPoint, plotHistory } from '../report/plot.js';
import {
  loadCheckpointFile,
  saveCheckpointFile,
  type TrainCheckpoint,
} from '../train/checkpoint.js';
import { evaluate } from '../train/evaluate.js';
import { trainingRecipe } from '../train/recipe.js';
import type { LearningRateSchedule } from '../train/schedule.js';
import { type EpochLogs, type TrainHistory, train } from '../train/train.js';
import { type Checker, checkReadable, checkWritable, positiveNumber, UsageError } from './args.js';
import type { Command } from './command.js';
import { describeModel } from './models.js';
import { type Output, ProgressBar } from './output.js';
import {
  BACKEND_OPTION,
  count,
  DATA_OPTIONS,
  type DataChoice,
  loadData,
  pct,
  readBackendOption,
  readDataOptions,
  startBackend,
} from './shared.js';

const DEFAULT_OUT = 'lenet-mnist.weights';

export const trainCommand: Command = {
  name: 'train',
  summary:
    "Train LeNet-5 (or an MLP) with the reference recipe: Adam, batches of 64, logs like the reference's, test accuracy after each epoch; saves weights, a resumable checkpoint and the curves (SVG).",
  usage: 'train [options]',
  options: {
    ...DATA_OPTIONS,
    model: { type: 'string', value: 'lenet|mlp', description: 'architecture', default: 'lenet' },
    pooling: { type: 'string', value: 'max|avg', description: 'LeNet pooling', default: 'max' },
    activation: { type: 'string', value: 'relu|tanh', description: 'activation', default: 'relu' },
    hidden: {
      type: 'string',
      value: 'N,N,...',
      description: 'MLP hidden layer widths',
      default: '256,128',
    },
    epochs: {
      type: 'string',
      value: 'N',
      description: 'passes over the training images',
      default: '5',
    },
    'batch-size': {
      type: 'string',
      value: 'N',
      description: 'images per Adam step',
      default: '64',
    },
    recipe: {
      type: 'string',
      value: 'reference|best',
      description:
        "reference: Adam at --lr throughout (as --schedule constant); best: train()'s 'best' recipe, 12 epochs unless --epochs of AdamW (weight decay 0.05), warm-up and cosine per step, augmented images (not with --lr or --schedule)",
    },
    lr: { type: 'string', value: 'X', description: 'Adam learning rate', default: '0.001' },
    schedule: {
      type: 'string',
      value: 'decay-last|constant|X,X,...',
      description:
        'learning rate per epoch: decay-last runs the last of 2+ epochs at lr/10; constant keeps lr (the reference); or one rate per epoch (the last repeats)',
      default: 'decay-last',
    },
    'val-split': {
      type: 'string',
      value: 'N',
      description: 'hold out N training images to validate on after each epoch (else the test set)',
    },
    limit: { type: 'string', value: 'N', description: 'train on the first N training images only' },
    seed: {
      type: 'string',
      value: 'N',
      description: 'seed for initial weights and shuffles',
      default: '1',
    },
    threads: {
      type: 'string',
      value: 'N|auto',
      description:
        'threads per fused training step and test pass (auto: one per CPU core, at most 4; 1: exact single-threaded results)',
      default: 'auto',
    },
    ...BACKEND_OPTION,
    'fast-path': {
      type: 'string',
      value: 'auto|wasm|webgpu|off',
      description: 'fused kernels: auto, forced WASM SIMD or WebGPU, or tfjs ops (off)',
      default: 'auto',
    },
    'log-every': {
      type: 'string',
      value: 'N',
      description: 'log every N-th batch (when not on a terminal)',
      default: '100',
    },
    out: {
      type: 'string',
      value: 'FILE',
      description: 'where to save the weights',
      default: DEFAULT_OUT,
    },
    plot: {
      type: 'string',
      value: 'FILE',
      description: 'loss/accuracy curves (SVG)',
      default: 'next to --out, .svg',
    },
    checkpoint: {
      type: 'string',
      value: 'FILE',
      description: 'resumable training state, written after each epoch and on Ctrl-C',
      default: 'next to --out, .ckpt',
    },
    resume: {
      type: 'string',
      value: 'CHECKPOINT',
      description: 'continue an interrupted run from its checkpoint',
    },
    verify: {
      type: 'boolean',
      description:
        'then reload the saved weights, re-check their test accuracy and predict a random test digit',
    },
  },
  details: [
    'On a terminal: a progress bar per epoch; otherwise the reference log lines every --log-every batches.',
    'Ctrl-C stops at the next batch, saves the weights and a checkpoint, and exits with 130;',
    '`lenet-mnist train --resume FILE.ckpt` (with the same options) finishes the run.',
    'With --json: one object per line: start, batch (every --log-every), epoch, end.',
  ].join('\n'),
  async run(ctx) {
    const plan = await readTrainOptions(ctx.args);
    return runTraining(plan, ctx.out, ctx.signal);
  },
};

/** Everything `train` was asked, checked. */
interface TrainPlan {
  data: DataChoice;
  model: 'lenet' | 'mlp';
  pooling: 'max' | 'avg';
  activation: 'relu' | 'tanh';
  hidden: number[];
  epochs: number;
  batchSize: number;
  rates: number[];
  scheduleName: string;
  /** `--recipe`: `'best'` hands the schedule, weight decay and augmentation to train(). */
  recipe: 'reference' | 'best' | undefined;
  valSplit: number | undefined;
  limit: number | undefined;
  seed: number;
  /** `--seed` was given (a resumed run otherwise keeps its checkpoint's seed). */
  seedGiven: boolean;
  threads: ThreadsOption;
  backend: 'auto' | 'wasm' | 'webgpu';
  fastPath: FastPathOption;
  logEvery: number;
  out: string;
  plot: string;
  checkpoint: string;
  resume: string | undefined;
  verify: boolean;
}

/** Where `--plot` and `--checkpoint` go by default: next to the weights, same base name. */
export function siblingPath(out: string, extension: string): string {
  const ext = extname(out);
  const base = ext === '' ? basename(out) : basename(out, ext);
  return join(dirname(out), `${base}${extension}`);
}

async function readTrainOptions(args: Checker): Promise<TrainPlan> {
  const data = await readDataOptions(args);
  const model = args.choice('model', ['lenet', 'mlp'] as const) ?? 'lenet';
  const pooling = args.choice('pooling', ['max', 'avg'] as const);
  const activation = args.choice('activation', ['relu', 'tanh'] as const) ?? 'relu';
  if (model === 'mlp' && pooling !== undefined)
    throw new UsageError('--pooling applies to --model lenet only');
  const hiddenRaw = args.string('hidden');
  if (model === 'lenet' && hiddenRaw !== undefined)
    throw new UsageError('--hidden applies to --model mlp only');
  const hidden = (hiddenRaw ?? '256,128').split(',').map((w) => {
    if (!/^\d+$/.test(w) || Number(w) < 1 || Number(w) > 100_000) {
      throw new UsageError(`--hidden needs widths like 256,128, got '${hiddenRaw}'`);
    }
    return Number(w);
  });
  const recipe = args.choice('recipe', ['reference', 'best'] as const);
  if (recipe === 'best' && (args.has('lr') || args.has('schedule')))
    throw new UsageError('--recipe best sets the learning rates: leave out --lr and --schedule');
  const epochs = args.int('epochs', 1, 10_000) ?? trainingRecipe(recipe ?? 'reference').epochs;
  const batchSize = args.int('batch-size', 1, 65_536) ?? 64;
  const lrGiven = args.positiveNumber('lr');
  const lr = lrGiven ?? 1e-3;
  const scheduleRaw =
    args.string('schedule') ?? (recipe === 'reference' ? 'constant' : 'decay-last');
  let rates: number[];
  if (recipe === 'best') {
    // For the logs: the recipe's rate at the start of each epoch (it changes every step).
    const schedule = trainingRecipe('best', epochs).learningRate as LearningRateSchedule;
    rates = Array.from({ length: epochs }, (_, i) => schedule(i + 1, 0, 1000));
  } else if (scheduleRaw === 'constant') {
    rates = Array.from({ length: epochs }, () => lr);
  } else if (scheduleRaw === 'decay-last') {
    rates = Array.from({ length: epochs }, (_, i) =>
      epochs >= 2 && i === epochs - 1 ? lr / 10 : lr,
    );
  } else if (/^[\d.e+\-,\s]+$/i.test(scheduleRaw)) {
    if (lrGiven !== undefined)
      throw new UsageError('give either --lr or a list of rates in --schedule, not both');
    const list = scheduleRaw
      .split(',')
      .map((r, i) => positiveNumber(r.trim(), `--schedule rate ${i + 1}`));
    rates = Array.from({ length: epochs }, (_, i) => list[Math.min(i, list.length - 1)] as number);
  } else {
    throw new UsageError(
      `--schedule must be decay-last, constant or a list of rates like 1e-3,1e-3,1e-4, got '${scheduleRaw}'`,
    );
  }
  const valSplit = args.int('val-split', 1);
  const max = args.int('limit', 1);
  if (valSplit !== undefined && max !== undefined && valSplit >= max) {
    throw new UsageError(`--val-split must be below --limit (${max}), got ${valSplit}`);
  }
  const seed = args.int('seed', 0, 2 ** 31 - 1) ?? 1;
  // 'auto' is resolved by train (resolveThreads), the one place that decides.
  const threads: ThreadsOption =
    args.string('threads') === 'auto' || !args.has('threads')
      ? 'auto'
      : (args.int('threads', 1, 64) as number);
  const backend = readBackendOption(args);
  const fastPath = args.choice('fast-path', FAST_PATH_OPTIONS) ?? 'auto';
  const logEvery = args.int('log-every', 1) ?? 100;
  const out = args.string('out') ?? DEFAULT_OUT;
  const plot = args.string('plot') ?? siblingPath(out, '.svg');
  const checkpoint = args.string('checkpoint') ?? siblingPath(out, '.ckpt');
  const resume = args.string('resume');
  const paths = new Map([
    ['--out', out],
    ['--plot', plot],
    ['--checkpoint', checkpoint],
  ]);
  const seen = new Map<string, string>();
  for (const [what, path] of paths) {
    const other = seen.get(path);
    if (other !== undefined)
      throw new UsageError(`${what} and ${other} name the same file '${path}'`);
    seen.set(path, what);
    await checkWritable(path, what);
  }
  if (resume !== undefined) await checkReadable(resume, '--resume');
  return {
    data,
    model,
    pooling: pooling ?? 'max',
    activation,
    hidden,
    epochs,
    batchSize,
    rates,
    scheduleName:
      recipe === 'best' ? 'best' : /^[a-z-]+$/.test(scheduleRaw) ? scheduleRaw : 'per-epoch list',
    recipe,
    valSplit,
    limit: max,
    seed,
    seedGiven: args.has('seed'),
    threads,
    backend,
    fastPath,
    logEvery,
    out,
    plot,
    checkpoint,
    resume,
    verify: args.flag('verify'),
  };
}

const pad2 = (n: number) => String(n).padStart(2, '0');
/** The reference's `time.strftime('%Y-%m-%d %H:%M:%S')`. */
function timestamp(d = new Date()): string {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
const plural = (n: number, word: string) =>
  `${count(n)} ${n === 1 ? word : word === 'batch' ? 'batches' : `${word}s`}`;
const rate = (r: number) => String(Number(r.toPrecision(6)));

async function runTraining(plan: TrainPlan, out: Output, signal: AbortSignal): Promise<number> {
  const s = out.style;
  // A checkpoint that cannot be read fails now, before any data is loaded.
  const resume = plan.resume === undefined ? undefined : await loadCheckpointFile(plan.resume);
  const backendInfo = await startBackend(plan.backend, out);
  const { preset } = plan.data;
  const model: Model = resume
    ? await modelFromCheckpoint(resume)
    : plan.model === 'lenet'
      ? await createLeNet({
          pooling: plan.pooling,
          activation: plan.activation,
          mean: preset.mean,
          std: preset.std,
          seed: plan.seed,
        })
      : await createMlp({
          hidden: plan.hidden,
          activation: plan.activation,
          mean: preset.mean,
          std: preset.std,
          seed: plan.seed,
        });
  const mnist = await loadData(plan.data, out, signal);
  const available = mnist.train.count;
  const used = plan.limit === undefined ? mnist.train : limit(mnist.train, plan.limit);
  // The model's own preprocessing: data and model cannot disagree.
  let trainSet: PreparedSet = prepareImages(used, model.preprocessing);
  const testSet = prepareImages(mnist.test, model.preprocessing);
  let validation = testSet;
  let validationName = 'Test';
  if (plan.valSplit !== undefined) {
    if (plan.valSplit >= trainSet.count) {
      throw new UsageError(
        `--val-split must be below the ${count(trainSet.count)} training images, got ${plan.valSplit}`,
      );
    }
    const split = splitValidation(trainSet, { size: plan.valSplit, seed: plan.seed });
    trainSet = split.train;
    validation = split.validation;
    validationName = 'Validation';
  }
  const batchesPerEpoch = Math.ceil(trainSet.count / plan.batchSize);
  const first = plan.rates[0] as number;
  const lastRate = plan.rates.at(-1) as number;
  const lrText =
    plan.recipe === 'best'
      ? "the 'best' recipe (AdamW, weight decay 0.05, warm-up to 2e-3 and cosine per step, augmented images)"
      : new Set(plan.rates).size === 1
        ? `Adam, learning rate ${rate(first)}`
        : plan.scheduleName === 'decay-last'
          ? `Adam, learning rate ${rate(first)} (last epoch ${rate(lastRate)})`
          : `Adam, learning rates ${plan.rates.map(rate).join(', ')}`;
  const of = used.count < available ? ` of ${count(available)}` : '';
  out.line(
    `Training ${describeModel(model.spec)}, ${count(model.parameterCount)} parameters, on ${count(trainSet.count)}${of} ${preset.title} training images: ${plural(plan.epochs, 'epoch')} of ${plural(batchesPerEpoch, 'batch')} of ${plan.batchSize}, ${lrText}; ${validationName.toLowerCase()} on ${count(validation.count)} images after each epoch.`,
  );
  out.detail(model.formatSummary());

  if (resume !== undefined) {
    out.line(
      `Resuming from ${plan.resume} at epoch ${resume.next.epoch}, batch ${resume.next.batch} (${plural(resume.epochs.length, 'epoch')} done before).`,
    );
  }
  const points: BatchPoint[] = [];
  let epochNow = resume?.next.epoch ?? 0;
  let bar: ProgressBar | undefined;
  let runLoss = 0;
  let runCorrect = 0;
  let runSeen = 0;
  let runBatches = 0;
  // Reading a step's loss costs two numbers on the fused engine: every batch then feeds the bar
  // and the plot. On tfjs ops each read waits for the backend: only every --log-every batches
  // (at most every 10th on a terminal, for the bar).
  const fused = chooseEngine(model.spec, backendInfo.backend, plan.fastPath).kind === 'fused';
  const readEvery = fused ? 1 : out.tty ? Math.min(plan.logEvery, 10) : plan.logEvery;
  const history: TrainHistory = await train(model, trainSet, {
    epochs: plan.epochs,
    batchSize: plan.batchSize,
    ...(plan.recipe === 'best'
      ? { recipe: 'best' as const }
      : { learningRate: (epoch: number) => plan.rates[epoch - 1] as number }),
    seed: plan.seed,
    fastPath: plan.fastPath,
    threads: plan.threads,
    validationData: validation,
    logEvery: readEvery,
    signal,
    resumeFrom: resume,
    ...(resume !== undefined && !plan.seedGiven ? { seed: undefined } : {}),
    onTrainBegin: ({ path, reason }) => {
      out.detail(`engine: ${path} (${reason})`);
      out.record({
        type: 'start',
        model: describeModel(model.spec),
        parameters: model.parameterCount,
        dataset: preset.name,
        trainImages: trainSet.count,
        validationImages: validation.count,
        validation: validationName.toLowerCase(),
        epochs: plan.epochs,
        batchSize: plan.batchSize,
        batchesPerEpoch,
        learningRates: plan.rates,
        seed: plan.seed,
        backend: backendInfo.backend,
        engine: path,
        engineReason: reason,
      });
    },
    onEpochBegin: (epoch) => {
      epochNow = epoch;
      runLoss = 0;
      runCorrect = 0;
      runSeen = 0;
      runBatches = 0;
      if (out.tty) {
        bar = new ProgressBar(
          out.stdout,
          `Epoch ${epoch}/${plan.epochs}`,
          batchesPerEpoch,
          'batches',
        );
      } else {
        out.line(`start_time ${timestamp()}`);
      }
    },
    onBatchEnd: (batch, logs) => {
      points.push({ epoch: epochNow, batch, batchesPerEpoch, loss: logs.loss });
      runLoss += logs.loss * logs.size;
      runCorrect += logs.accuracy * logs.size;
      runSeen += logs.size;
      runBatches = batch + 1;
      if (out.tty && bar === undefined) {
        // A resumed run starts inside an epoch, without onEpochBegin.
        bar = new ProgressBar(
          out.stdout,
          `Epoch ${epochNow}/${plan.epochs}`,
          batchesPerEpoch,
          'batches',
        );
      }
      if (batch % plan.logEvery === 0) {
        out.record({
          type: 'batch',
          epoch: epochNow,
          batch,
          loss: logs.loss,
          accuracy: logs.accuracy,
        });
        if (!out.tty) {
          out.line(
            `Epoch ${epochNow}, Batch ${batch}, Loss: ${logs.loss.toFixed(6)}, Accuracy: ${pct(logs.accuracy)}`,
          );
        }
      }
      bar?.update(
        runBatches,
        batch * plan.batchSize + logs.size,
        `loss ${(runLoss / runSeen).toFixed(4)}  acc ${pct(runCorrect / runSeen)}`,
      );
    },
    onEpochEnd: async (epoch, logs, context) => {
      bar?.clear();
      bar = undefined;
      // After an abort, train hands the checkpoint over in its history instead.
      if (!signal.aborted) await saveCheckpointFile(plan.checkpoint, await context.checkpoint());
      out.record({
        type: 'epoch',
        ...logs,
        learningRate: logs.learningRate ?? plan.rates[epoch - 1],
      });
      if (signal.aborted) {
        out.line(
          `Epoch ${epoch} (interrupted after ${plural(logs.batches, 'batch')}) - Average Loss: ${logs.loss.toFixed(6)}, Accuracy: ${pct(logs.accuracy)}`,
        );
      } else {
        printEpoch(
          out,
          logs,
          validationName,
          logs.learningRate ?? (plan.rates[epoch - 1] as number),
        );
      }
    },
  });
  bar?.clear();

  const last = history.epochs.at(-1);
  const metadata = {
    recipe: {
      dataset: preset.name,
      epochs: plan.epochs,
      batchSize: plan.batchSize,
      learningRates: plan.rates,
      ...(plan.recipe !== undefined ? { name: plan.recipe } : {}),
      seed: plan.seed,
      trainImages: trainSet.count,
    },
    testAccuracy: validationName === 'Test' && !history.aborted ? last?.valAccuracy : undefined,
    trainedAt: new Date().toISOString(),
  };
  await saveModelFile(model, plan.out, metadata);
  await platform.writeFile(
    plan.plot,
    new TextEncoder().encode(
      plotHistory(history, {
        title: `${describeModel(model.spec)} on ${preset.title}: ${plural(history.epochs.length, 'epoch')}, ${count(trainSet.count)} images`,
        batches: points,
      }),
    ),
  );

  if (history.aborted) {
    if (history.checkpoint !== undefined) {
      await saveCheckpointFile(plan.checkpoint, history.checkpoint);
    }
    const next = history.checkpoint?.next;
    out.record({
      type: 'interrupted',
      epoch: next?.epoch ?? epochNow,
      batch: next?.batch,
      weights: plan.out,
      checkpoint: plan.checkpoint,
      plot: plan.plot,
    });
    out.note(
      `Interrupted at epoch ${next?.epoch ?? epochNow}, batch ${next?.batch ?? '?'}: weights saved to ${plan.out}, checkpoint to ${plan.checkpoint}, curves to ${plan.plot}.\n` +
        `Continue with the same options and --resume ${plan.checkpoint}`,
    );
    model.dispose();
    return 130;
  }

  const samples = history.samplesPerSecond * history.seconds;
  out.line(
    `Finished Training: ${plural(history.epochs.length, 'epoch')} (${count(Math.round(samples))} images) in ${history.seconds.toFixed(1)} s, ${count(Math.round(history.samplesPerSecond))} samples/s on ${history.backend} (${history.path}${history.threads > 1 ? `, ${history.threads} threads` : ''})`,
  );
  let testAccuracy = validationName === 'Test' ? last?.valAccuracy : undefined;
  if (validationName !== 'Test') {
    const final = await evaluate(model, testSet, { batchSize: 500 });
    testAccuracy = final.accuracy;
    out.line(`Test - Average Loss: ${final.loss.toFixed(6)}, Accuracy: ${pct(final.accuracy)}`);
  }
  out.line(
    `Saved weights to ${s.bold(plan.out)}, checkpoint to ${plan.checkpoint}, curves to ${s.bold(plan.plot)}`,
  );
  out.record({
    type: 'end',
    epochs: history.epochs.length,
    images: Math.round(samples),
    seconds: history.seconds,
    samplesPerSecond: history.samplesPerSecond,
    testAccuracy,
    weights: plan.out,
    checkpoint: plan.checkpoint,
    plot: plan.plot,
  });
  model.dispose();
  if (plan.verify) await verify(plan, out, testSet, mnist.test, testAccuracy);
  return 0;
}

function printEpoch(out: Output, logs: EpochLogs, validationName: string, lr: number): void {
  out.line(
    `Epoch ${logs.epoch} - Average Loss: ${logs.loss.toFixed(6)}, Accuracy: ${pct(logs.accuracy)}`,
  );
  if (logs.valLoss !== undefined && logs.valAccuracy !== undefined) {
    out.line(
      `${validationName} - Average Loss: ${logs.valLoss.toFixed(6)}, Accuracy: ${out.style.bold(pct(logs.valAccuracy))}`,
    );
  }
  const speed = `${logs.seconds.toFixed(1)} s training, ${count(Math.round(logs.samplesPerSecond))} samples/s, learning rate ${rate(lr)}`;
  out.line(out.tty ? `${out.style.dim(`(${speed})`)}\n` : `end_time: ${timestamp()} (${speed})\n`);
}

/** As the reference ends: reload the weights, check them, predict a random test digit. */
async function verify(
  plan: TrainPlan,
  out: Output,
  testSet: PreparedSet,
  raw: ImageSet,
  expected: number | undefined,
): Promise<void> {
  const reloaded = await loadModelFile(plan.out);
  out.line('Model loaded successfully');
  const check = await evaluate(reloaded, testSet, { batchSize: 500 });
  const same = expected === undefined || check.accuracy === expected;
  out.line(
    `Reloaded model: test accuracy ${pct(check.accuracy)}, loss ${check.loss.toFixed(6)}${same ? '' : ` (expected ${pct(expected)})`}`,
  );
  const index = Math.floor(Math.random() * raw.count);
  const digit = imageAt(raw, index);
  const predictor = await createPredictor(reloaded);
  const { label, probabilities } = await predictor.predict(digit);
  out.line(`\nRandom test sample #${index}:\n${formatDigitAscii(digit, raw.width, raw.height)}`);
  out.line(`Predicted label: ${label} (p = ${(probabilities[label] as number).toFixed(4)})`);
  out.line(`Actual label: ${raw.labels[index]}`);
  out.record({
    type: 'verify',
    testAccuracy: check.accuracy,
    index,
    label,
    probability: probabilities[label],
    actual: raw.labels[index],
  });
  predictor.dispose();
  reloaded.dispose();
  if (!same)
    throw new Error(`the reloaded weights score ${pct(check.accuracy)}, not ${pct(expected ?? 0)}`);
}

/** A fresh model of the checkpoint's architecture and preprocessing (train then loads its state). */
function modelFromCheckpoint(cp: TrainCheckpoint): Promise<Model> {
  const { spec, preprocessing: p } = cp;
  if (spec.kind === 'lenet') {
    return createLeNet({
      pooling: spec.pooling,
      activation: spec.activation,
      conv2Activation: spec.conv2Activation,
      inputSize: spec.inputSize,
      resize: p.resize,
      mean: p.mean,
      std: p.std,
    });
  }
  return createMlp({
    hidden: spec.hidden,
    activation: spec.activation,
    inputSize: spec.inputSize,
    mean: p.mean,
    std: p.std,
  });
}
