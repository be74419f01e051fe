import * as tf from '@tensorflow/tfjs-core';

/**
 * CPU copies of tfjs variables, so that a lost WebGPU device does not take the model with it.
 *
 * Why every registered variable and not just models' weights: tfjs' optimizers keep their state
 * (Adam's moments and beta powers) in variables too, so restoring all of them lets training
 * resume exactly where the snapshot was taken, with the same optimizer state.
 *
 * Why snapshots at all: once a device is lost its buffers cannot be read, so values must be
 * copied out beforehand. Copies are taken when asked ({@link takeSnapshot}) and periodically
 * while WebGPU is active ({@link startAutoSnapshot}); whatever changed after the last one is lost.
 */
export interface WeightsSnapshot {
  /** `performance.now()` when the reads were issued (all at once, so the copy is consistent). */
  readonly takenAt: number;
  readonly entries: ReadonlyMap<tf.Variable, { values: tf.TypedArray; dtype: tf.DataType }>;
}

/** What {@link restoreVariables} could carry over to the new backend. */
export interface RestoreResult {
  /** Variables restored (from the snapshot, or read directly where the old backend still had a CPU copy). */
  readonly restored: number;
  /** Names of variables whose values were lost; they now hold NaN so that any use shows it. */
  readonly lost: readonly string[];
  /** Age of the snapshot used, in ms, or `undefined` if there was none. */
  readonly snapshotAgeMs: number | undefined;
}

let latest: WeightsSnapshot | undefined;
/** Holders of GPU state outside tfjs variables (a fused WebGPU engine), copied with them. */
const sources = new Set<() => Promise<void>>();

/**
 * Registers `copy`, called by every {@link takeSnapshot} at the moment the variables' reads are
 * issued: it must issue its own GPU reads before its first await, into a host copy it keeps
 * itself. Returns the function that unregisters it.
 */
export function addSnapshotSource(copy: () => Promise<void>): () => void {
  sources.add(copy);
  return () => {
    sources.delete(copy);
  };
}
let inFlight: Promise<WeightsSnapshot> | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

function liveVariables(): tf.Variable[] {
  return Object.values(tf.engine().registeredVariables).filter((v) => !v.isDisposed);
}

/**
 * Copies every registered tfjs variable to the CPU. All reads are issued synchronously, between
 * two of the app's await points, so they see one consistent state (no half-applied optimizer
 * step). Each variable is cloned first (a reference, not a copy): a training step that replaces
 * the variable's value while the read is pending then cannot free the buffer being read.
 */
export function takeSnapshot(): Promise<WeightsSnapshot> {
  // A snapshot already being read may predate the caller's last step: take a new one after it.
  if (inFlight !== undefined) return inFlight.catch(() => undefined).then(() => takeSnapshot());
  const takenAt = performance.now();
  const vars = liveVariables();
  const clones = vars.map((v) => tf.clone(v));
  const others = Promise.all([...sources].map((copy) => copy()));
  inFlight = Promise.all([Promise.all(clones.map((c) => c.data())), others])
    .then(([arrays]) => {
      const entries = new Map<tf.Variable, { values: tf.TypedArray; dtype: tf.DataType }>();
      vars.forEach((v, i) => {
        entries.set(v, { values: (arrays[i] as tf.TypedArray).slice(), dtype: v.dtype });
      });
      const snapshot: WeightsSnapshot = { takenAt, entries };
      latest = snapshot;
      return snapshot;
    })
    .finally(() => {
      for (const c of clones) c.dispose();
      inFlight = undefined;
    });
  return inFlight;
}

/** The most recent complete snapshot. */
export function latestSnapshot(): WeightsSnapshot | undefined {
  return latest;
}

/** Forgets the snapshot (after a voluntary switch to WASM, nothing can be lost any more). */
export function clearSnapshot(): void {
  latest = undefined;
}

/**
 * Takes a snapshot every `intervalMs` until {@link stopAutoSnapshot}. The timer does not keep a
 * Node process alive, and a failed snapshot (a device lost mid-read) keeps the previous one.
 */
export function startAutoSnapshot(intervalMs: number): void {
  stopAutoSnapshot();
  if (!(intervalMs > 0)) return;
  timer = setInterval(() => {
    // A slow device may still be reading the previous one; never queue them up.
    if (inFlight === undefined) takeSnapshot().catch(() => undefined);
  }, intervalMs);
  (timer as { unref?: () => void }).unref?.();
}

export function stopAutoSnapshot(): void {
  if (timer !== undefined) clearInterval(timer);
  timer = undefined;
}

/**
 * Gives every registered variable a value on the current backend (call it after switching):
 * its snapshot value; else, for a variable created after the snapshot, a direct read, which
 * succeeds only if the old backend still holds a CPU copy (tfjs keeps one until first GPU use);
 * else NaN, listed in `lost`. A read from a lost device is bounded by `readTimeoutMs`.
 */
export async function restoreVariables(
  snapshot: WeightsSnapshot | undefined,
  readTimeoutMs = 2000,
): Promise<RestoreResult> {
  const lost: string[] = [];
  let restored = 0;
  for (const v of liveVariables()) {
    let values = snapshot?.entries.get(v)?.values;
    if (values === undefined) values = await readWithin(v, readTimeoutMs);
    if (values === undefined) lost.push(v.name);
    else restored++;
    const data = values;
    tf.tidy(() => {
      v.assign(
        data !== undefined
          ? tf.tensor(data, v.shape, v.dtype)
          : tf.fill(v.shape, Number.NaN, v.dtype),
      );
    });
  }
  return {
    restored,
    lost,
    snapshotAgeMs: snapshot !== undefined ? performance.now() - snapshot.takenAt : undefined,
  };
}

async function readWithin(v: tf.Variable, ms: number): Promise<tf.TypedArray | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    const values = await Promise.race([v.data(), timeout]);
    return values === undefined ? undefined : (values as tf.TypedArray).slice();
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
