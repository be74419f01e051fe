/**
 * `lenet-mnist train`: the reference tutorial's job from a terminal. Trains, logs like the
 * reference (or shows a progress bar on a terminal), saves the weights, a resumable checkpoint
 * and the curves as SVG next to them; Ctrl-C stops at the next batch and saves all of that.
 */
import { basename, dirname, extname, join } from 'node:path';
import type { ThreadsOption } from '../backend/env.js';
import { FAST_PATH_OPTIONS } from '../engine/types.js';
import { trainingRecipe } from '../train/recipe.js';
import type { LearningRateSchedule } from '../train/schedule.js';
import { type Checker, checkReadable, checkWritable, positiveNumber, UsageError } from './args.js';
import type { Command } from './command.js';
import { BACKEND_OPTION, DATA_OPTIONS, readBackendOption, readDataOptions } from './shared.js';
import { runTraining, type TrainPlan } from './train-run.js';

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

/** Where `--plot` and `--checkpoint` go by default: next to the weights, same base name. */
export function siblingPath(out: string, extension: string): string {
  const ext = extname(out);
  const base = ext === '' ? basename(out) : basename(out, ext);
  return join(dirname(out), `${base}${extension}`);
}

async function readTrainOptions(args: Checker): Promise<TrainPlan> {
  const data = await readDataOptions(args);
  const architecture = readArchitecture(args);
  const recipe = args.choice('recipe', ['reference', 'best'] as const);
  if (recipe === 'best' && (args.has('lr') || args.has('schedule')))
    throw new UsageError('--recipe best sets the learning rates: leave out --lr and --schedule');
  const epochs = args.int('epochs', 1, 10_000) ?? trainingRecipe(recipe ?? 'reference').epochs;
  const batchSize = args.int('batch-size', 1, 65_536) ?? 64;
  const { rates, scheduleName } = readRates(args, recipe, epochs);
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
  const files = await readFiles(args);
  return {
    data,
    ...architecture,
    epochs,
    batchSize,
    rates,
    scheduleName,
    recipe,
    valSplit,
    limit: max,
    seed,
    seedGiven: args.has('seed'),
    threads,
    backend,
    fastPath,
    logEvery,
    ...files,
    verify: args.flag('verify'),
  };
}

/** `--model`, `--pooling`, `--activation`, `--hidden`. */
function readArchitecture(args: Checker) {
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
  return { model, pooling: pooling ?? 'max', activation, hidden };
}

/** Each epoch's learning rate (for the logs and the schedule) from `--lr` and `--schedule`. */
function readRates(
  args: Checker,
  recipe: 'reference' | 'best' | undefined,
  epochs: number,
): { rates: number[]; scheduleName: string } {
  const lrGiven = args.positiveNumber('lr');
  const lr = lrGiven ?? 1e-3;
  const scheduleRaw =
    args.string('schedule') ?? (recipe === 'reference' ? 'constant' : 'decay-last');
  const scheduleName =
    recipe === 'best' ? 'best' : /^[a-z-]+$/.test(scheduleRaw) ? scheduleRaw : 'per-epoch list';
  const perEpoch = (rate: (epoch: number) => number) => ({
    rates: Array.from({ length: epochs }, (_, i) => rate(i)),
    scheduleName,
  });
  if (recipe === 'best') {
    // For the logs: the recipe's rate at the start of each epoch (it changes every step).
    const schedule = trainingRecipe('best', epochs).learningRate as LearningRateSchedule;
    return perEpoch((i) => schedule(i + 1, 0, 1000));
  }
  if (scheduleRaw === 'constant') return perEpoch(() => lr);
  if (scheduleRaw === 'decay-last') {
    return perEpoch((i) => (epochs >= 2 && i === epochs - 1 ? lr / 10 : lr));
  }
  if (/^[\d.e+\-,\s]+$/i.test(scheduleRaw)) {
    if (lrGiven !== undefined)
      throw new UsageError('give either --lr or a list of rates in --schedule, not both');
    const list = scheduleRaw
      .split(',')
      .map((r, i) => positiveNumber(r.trim(), `--schedule rate ${i + 1}`));
    return perEpoch((i) => list[Math.min(i, list.length - 1)] as number);
  }
  throw new UsageError(
    `--schedule must be decay-last, constant or a list of rates like 1e-3,1e-3,1e-4, got '${scheduleRaw}'`,
  );
}

/** `--out`, `--plot`, `--checkpoint` (distinct and writable) and `--resume` (readable). */
async function readFiles(args: Checker) {
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
  return { out, plot, checkpoint, resume };
}
