/**
 * The run of `lenet-mnist train`, in phases: prepare (checkpoint, backend, model, data),
 * announce, train (with {@link TrainingLog}'s callbacks), save, then report the end or the
 * interruption, and verify on request.
 */
import type { ThreadsOption } from '../backend/env.js';
import type { BackendInfo } from '../backend/select.js';
import { splitValidation } from '../data/batches.js';
import { type ImageSet, imageAt, type Mnist } from '../data/mnist.js';
import { type PreparedSet, prepareImages } from '../data/preprocess.js';
import { firstImages } from '../data/presets.js';
import { formatDigitAscii } from '../data/render.js';
import { stepReadsAreCheap } from '../engine/choose.js';
import { loadModelFile, saveModelFile } from '../engine/io.js';
import { createLeNet } from '../engine/lenet.js';
import { createMlp } from '../engine/mlp.js';
import type { FastPathOption, Model } from '../engine/types.js';
import { platform } from '../platform/index.js';
import { createPredictor } from '../predict/predictor.js';
import { plotHistory } from '../report/plot.js';
import {
  loadCheckpointFile,
  saveCheckpointFile,
  type TrainCheckpoint,
} from '../train/checkpoint.js';
import { evaluate } from '../train/evaluate.js';
import { type TrainHistory, type TrainOptions, train } from '../train/train.js';
import { UsageError } from './args.js';
import { describeModel } from './models.js';
import type { Output } from './output.js';
import { count, type DataChoice, loadData, pct, startBackend } from './shared.js';
import { plural, rate, TrainingLog } from './train-log.js';

/** Everything `train` was asked, checked. */
export interface TrainPlan {
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

/** What the run trains on and with, once prepared. */
interface Prepared {
  plan: TrainPlan;
  resume: TrainCheckpoint | undefined;
  backend: BackendInfo;
  model: Model;
  mnist: Mnist;
  /** Training images before `--limit`, and after it. */
  available: number;
  used: number;
  trainSet: PreparedSet;
  testSet: PreparedSet;
  validation: PreparedSet;
  validationName: 'Test' | 'Validation';
  batchesPerEpoch: number;
}

/** `lenet-mnist train`'s work once its options are checked; resolves to the exit code. */
export async function runTraining(
  plan: TrainPlan,
  out: Output,
  signal: AbortSignal,
): Promise<number> {
  const run = await prepare(plan, out, signal);
  announce(run, out);
  const log = new TrainingLog(
    out,
    {
      epochs: plan.epochs,
      batchSize: plan.batchSize,
      batchesPerEpoch: run.batchesPerEpoch,
      logEvery: plan.logEvery,
      rates: plan.rates,
      validationName: run.validationName,
      checkpoint: plan.checkpoint,
      startEpoch: run.resume?.next.epoch ?? 0,
    },
    signal,
  );
  const history = await train(run.model, run.trainSet, trainOptions(run, out, signal, log));
  log.close();
  await saveResults(run, history, log);
  if (history.aborted) return reportInterrupted(run, history, log, out);
  const testAccuracy = await reportFinished(run, history, out);
  run.model.dispose();
  if (plan.verify) await verify(plan, out, run.testSet, run.mnist.test, testAccuracy);
  return 0;
}

/** The checkpoint to resume from, the backend, the model and the data, in that order. */
async function prepare(plan: TrainPlan, out: Output, signal: AbortSignal): Promise<Prepared> {
  // A checkpoint that cannot be read fails now, before any data is loaded.
  const resume = plan.resume === undefined ? undefined : await loadCheckpointFile(plan.resume);
  const backend = await startBackend(plan.backend, out);
  const model = resume ? await modelFromCheckpoint(resume) : await newModel(plan);
  const mnist = await loadData(plan.data, out, signal);
  const used = plan.limit === undefined ? mnist.train : firstImages(mnist.train, plan.limit);
  // The model's own preprocessing: data and model cannot disagree.
  const prepared = prepareImages(used, model.preprocessing);
  const testSet = prepareImages(mnist.test, model.preprocessing);
  const { trainSet, validation, validationName } = splitOff(plan, prepared, testSet);
  return {
    plan,
    resume,
    backend,
    model,
    mnist,
    available: mnist.train.count,
    used: used.count,
    trainSet,
    testSet,
    validation,
    validationName,
    batchesPerEpoch: Math.ceil(trainSet.count / plan.batchSize),
  };
}

function newModel(plan: TrainPlan): Promise<Model> {
  const { mean, std } = plan.data.preset;
  const { activation, seed } = plan;
  return plan.model === 'lenet'
    ? createLeNet({ pooling: plan.pooling, activation, mean, std, seed })
    : createMlp({ hidden: plan.hidden, activation, mean, std, seed });
}

/** `--val-split`: validation images held out of the training set (else the test set). */
function splitOff(plan: TrainPlan, trainSet: PreparedSet, testSet: PreparedSet) {
  if (plan.valSplit === undefined) {
    return { trainSet, validation: testSet, validationName: 'Test' as const };
  }
  if (plan.valSplit >= trainSet.count) {
    throw new UsageError(
      `--val-split must be below the ${count(trainSet.count)} training images, got ${plan.valSplit}`,
    );
  }
  const split = splitValidation(trainSet, { size: plan.valSplit, seed: plan.seed });
  return {
    trainSet: split.train,
    validation: split.validation,
    validationName: 'Validation' as const,
  };
}

/** The first lines: what trains on what, the model's summary, where a resumed run resumes. */
function announce(run: Prepared, out: Output): void {
  const { plan, model, trainSet, validation, resume } = run;
  const of = run.used < run.available ? ` of ${count(run.available)}` : '';
  out.line(
    `Training ${describeModel(model.spec)}, ${count(model.parameterCount)} parameters, on ${count(trainSet.count)}${of} ${plan.data.preset.title} training images: ${plural(plan.epochs, 'epoch')} of ${plural(run.batchesPerEpoch, 'batch')} of ${plan.batchSize}, ${learningRateText(plan)}; ${run.validationName.toLowerCase()} on ${count(validation.count)} images after each epoch.`,
  );
  out.detail(model.formatSummary());
  if (resume !== undefined) {
    out.line(
      `Resuming from ${plan.resume} at epoch ${resume.next.epoch}, batch ${resume.next.batch} (${plural(resume.epochs.length, 'epoch')} done before).`,
    );
  }
}

function learningRateText(plan: TrainPlan): string {
  const first = plan.rates[0] as number;
  const lastRate = plan.rates.at(-1) as number;
  if (plan.recipe === 'best') {
    return "the 'best' recipe (AdamW, weight decay 0.05, warm-up to 2e-3 and cosine per step, augmented images)";
  }
  if (new Set(plan.rates).size === 1) return `Adam, learning rate ${rate(first)}`;
  if (plan.scheduleName === 'decay-last') {
    return `Adam, learning rate ${rate(first)} (last epoch ${rate(lastRate)})`;
  }
  return `Adam, learning rates ${plan.rates.map(rate).join(', ')}`;
}

/** `train`'s options: the plan's recipe, the log's callbacks, and the start record. */
function trainOptions(
  run: Prepared,
  out: Output,
  signal: AbortSignal,
  log: TrainingLog,
): TrainOptions {
  const { plan, model, resume } = run;
  // Reading a step's loss is cheap on the fused WASM engine: every batch then feeds the bar and
  // the plot. Elsewhere each read waits for the backend: only every --log-every batches (at
  // most every 10th on a terminal, for the bar).
  const cheap = stepReadsAreCheap(model.spec, run.backend.backend, plan.fastPath);
  const readEvery = cheap ? 1 : out.tty ? Math.min(plan.logEvery, 10) : plan.logEvery;
  return {
    epochs: plan.epochs,
    batchSize: plan.batchSize,
    ...(plan.recipe === 'best'
      ? { recipe: 'best' as const }
      : { learningRate: (epoch: number) => plan.rates[epoch - 1] as number }),
    seed: plan.seed,
    fastPath: plan.fastPath,
    threads: plan.threads,
    validationData: run.validation,
    logEvery: readEvery,
    signal,
    resumeFrom: resume,
    ...(resume !== undefined && !plan.seedGiven ? { seed: undefined } : {}),
    onTrainBegin: ({ path, reason }) => recordStart(run, out, path, reason),
    ...log.callbacks(),
  };
}

function recordStart(run: Prepared, out: Output, path: string, reason: string): void {
  const { plan, model } = run;
  out.detail(`engine: ${path} (${reason})`);
  out.record({
    type: 'start',
    model: describeModel(model.spec),
    parameters: model.parameterCount,
    dataset: plan.data.preset.name,
    trainImages: run.trainSet.count,
    validationImages: run.validation.count,
    validation: run.validationName.toLowerCase(),
    epochs: plan.epochs,
    batchSize: plan.batchSize,
    batchesPerEpoch: run.batchesPerEpoch,
    learningRates: plan.rates,
    seed: plan.seed,
    backend: run.backend.backend,
    engine: path,
    engineReason: reason,
  });
}

/** The weights (with the recipe as metadata) and the curves, finished or interrupted. */
async function saveResults(run: Prepared, history: TrainHistory, log: TrainingLog): Promise<void> {
  const { plan, model, trainSet } = run;
  const preset = plan.data.preset;
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
    testAccuracy: run.validationName === 'Test' && !history.aborted ? last?.valAccuracy : undefined,
    trainedAt: new Date().toISOString(),
  };
  await saveModelFile(model, plan.out, metadata);
  const svg = plotHistory(history, {
    title: `${describeModel(model.spec)} on ${preset.title}: ${plural(history.epochs.length, 'epoch')}, ${count(trainSet.count)} images`,
    batches: log.points,
  });
  await platform.writeFile(plan.plot, new TextEncoder().encode(svg));
}

/** Ctrl-C: the checkpoint to continue from, and how; exit code 130. */
async function reportInterrupted(
  run: Prepared,
  history: TrainHistory,
  log: TrainingLog,
  out: Output,
): Promise<number> {
  const { plan } = run;
  if (history.checkpoint !== undefined)
    await saveCheckpointFile(plan.checkpoint, history.checkpoint);
  const next = history.checkpoint?.next;
  const epoch = next?.epoch ?? log.epochNow;
  out.record({
    type: 'interrupted',
    epoch,
    batch: next?.batch,
    weights: plan.out,
    checkpoint: plan.checkpoint,
    plot: plan.plot,
  });
  out.note(
    `Interrupted at epoch ${epoch}, batch ${next?.batch ?? '?'}: weights saved to ${plan.out}, checkpoint to ${plan.checkpoint}, curves to ${plan.plot}.\n` +
      `Continue with the same options and --resume ${plan.checkpoint}`,
  );
  run.model.dispose();
  return 130;
}

/** The run's speed, the test accuracy (evaluated now after a validation split), the files. */
async function reportFinished(
  run: Prepared,
  history: TrainHistory,
  out: Output,
): Promise<number | undefined> {
  const { plan } = run;
  const samples = history.samplesPerSecond * history.seconds;
  out.line(
    `Finished Training: ${plural(history.epochs.length, 'epoch')} (${count(Math.round(samples))} images) in ${history.seconds.toFixed(1)} s, ${count(Math.round(history.samplesPerSecond))} samples/s on ${history.backend} (${history.path}${history.threads > 1 ? `, ${history.threads} threads` : ''})`,
  );
  let testAccuracy = run.validationName === 'Test' ? history.epochs.at(-1)?.valAccuracy : undefined;
  if (run.validationName !== 'Test') {
    const final = await evaluate(run.model, run.testSet, { batchSize: 500 });
    testAccuracy = final.accuracy;
    out.line(`Test - Average Loss: ${final.loss.toFixed(6)}, Accuracy: ${pct(final.accuracy)}`);
  }
  out.line(
    `Saved weights to ${out.style.bold(plan.out)}, checkpoint to ${plan.checkpoint}, curves to ${out.style.bold(plan.plot)}`,
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
  return testAccuracy;
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
