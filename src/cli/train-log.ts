/**
 * What `lenet-mnist train` shows while training: the reference's log lines (or a progress bar
 * on a terminal), JSON records, the per-batch points of the plot, and the checkpoint written
 * after each epoch, as `train` callbacks.
 */
import type { BatchPoint } from '../report/plot.js';
import { saveCheckpointFile } from '../train/checkpoint.js';
import type { BatchLogs, EpochLogs, TrainCallbacks, TrainContext } from '../train/train.js';
import { type Output, ProgressBar } from './output.js';
import { count, pct } from './shared.js';

const pad2 = (n: number) => String(n).padStart(2, '0');
/** The reference's `time.strftime('%Y-%m-%d %H:%M:%S')`. */
export function timestamp(d = new Date()): string {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
export const plural = (n: number, word: string) =>
  `${count(n)} ${n === 1 ? word : word === 'batch' ? 'batches' : `${word}s`}`;
export const rate = (r: number) => String(Number(r.toPrecision(6)));

/** What the log needs to know of the run. */
export interface RunFacts {
  epochs: number;
  batchSize: number;
  batchesPerEpoch: number;
  logEvery: number;
  /** The learning rate of each epoch, for the logs. */
  rates: number[];
  /** 'Test' or 'Validation'. */
  validationName: string;
  /** Where the checkpoint goes after each epoch. */
  checkpoint: string;
  /** The epoch a resumed run starts in (0 for a fresh run). */
  startEpoch: number;
}

/** The callbacks of one `train` call, and what they collected. */
export class TrainingLog {
  /** One point per batch read, for the plot. */
  readonly points: BatchPoint[] = [];
  /** The epoch running (or last run). */
  epochNow: number;
  readonly #out: Output;
  readonly #facts: RunFacts;
  readonly #signal: AbortSignal;
  #bar: ProgressBar | undefined;
  #running = { loss: 0, correct: 0, seen: 0, batches: 0 };

  constructor(out: Output, facts: RunFacts, signal: AbortSignal) {
    this.#out = out;
    this.#facts = facts;
    this.#signal = signal;
    this.epochNow = facts.startEpoch;
  }

  /** The callbacks, besides `onTrainBegin` (which the run's announcement owns). */
  callbacks(): Pick<TrainCallbacks, 'onEpochBegin' | 'onBatchEnd' | 'onEpochEnd'> {
    return {
      onEpochBegin: (epoch) => this.#epochBegin(epoch),
      onBatchEnd: (batch, logs) => this.#batchEnd(batch, logs),
      onEpochEnd: (epoch, logs, context) => this.#epochEnd(epoch, logs, context),
    };
  }

  /** Clears the progress bar, if one is showing. */
  close(): void {
    this.#bar?.clear();
    this.#bar = undefined;
  }

  #epochBegin(epoch: number): void {
    this.epochNow = epoch;
    this.#running = { loss: 0, correct: 0, seen: 0, batches: 0 };
    if (this.#out.tty) this.#bar = this.#newBar();
    else this.#out.line(`start_time ${timestamp()}`);
  }

  #newBar(): ProgressBar {
    const { epochs, batchesPerEpoch } = this.#facts;
    return new ProgressBar(
      this.#out.stdout,
      `Epoch ${this.epochNow}/${epochs}`,
      batchesPerEpoch,
      'batches',
    );
  }

  #batchEnd(batch: number, logs: BatchLogs): void {
    const { batchesPerEpoch, batchSize, logEvery } = this.#facts;
    const out = this.#out;
    const epoch = this.epochNow;
    this.points.push({ epoch, batch, batchesPerEpoch, loss: logs.loss });
    const running = this.#running;
    running.loss += logs.loss * logs.size;
    running.correct += logs.accuracy * logs.size;
    running.seen += logs.size;
    running.batches = batch + 1;
    // A resumed run starts inside an epoch, without onEpochBegin.
    if (out.tty && this.#bar === undefined) this.#bar = this.#newBar();
    if (batch % logEvery === 0) {
      out.record({ type: 'batch', epoch, batch, loss: logs.loss, accuracy: logs.accuracy });
      if (!out.tty) {
        out.line(
          `Epoch ${epoch}, Batch ${batch}, Loss: ${logs.loss.toFixed(6)}, Accuracy: ${pct(logs.accuracy)}`,
        );
      }
    }
    this.#bar?.update(
      running.batches,
      batch * batchSize + logs.size,
      `loss ${(running.loss / running.seen).toFixed(4)}  acc ${pct(running.correct / running.seen)}`,
    );
  }

  async #epochEnd(epoch: number, logs: EpochLogs, context: TrainContext): Promise<void> {
    this.close();
    const { rates, checkpoint, validationName } = this.#facts;
    const aborted = this.#signal.aborted;
    // After an abort, train hands the checkpoint over in its history instead.
    if (!aborted) await saveCheckpointFile(checkpoint, await context.checkpoint());
    const learningRate = logs.learningRate ?? (rates[epoch - 1] as number);
    this.#out.record({ type: 'epoch', ...logs, learningRate });
    if (aborted) {
      this.#out.line(
        `Epoch ${epoch} (interrupted after ${plural(logs.batches, 'batch')}) - Average Loss: ${logs.loss.toFixed(6)}, Accuracy: ${pct(logs.accuracy)}`,
      );
    } else {
      printEpoch(this.#out, logs, validationName, learningRate);
    }
  }
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
