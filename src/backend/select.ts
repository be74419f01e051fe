import * as tf from '@tensorflow/tfjs-core';
import { LenetMnistError } from '../errors.js';
import { type AssetBase, setAssetBase } from '../platform/assets.js';
import { detectEnvironment, type RuntimeEnvironment, resolveThreads } from './env.js';
import {
  clearSnapshot,
  latestSnapshot,
  type RestoreResult,
  restoreVariables,
  startAutoSnapshot,
  stopAutoSnapshot,
  takeSnapshot,
} from './snapshot.js';
import { activateWasmBackend, type WasmPaths, type WasmThreads } from './wasm.js';
import {
  type AdapterSummary,
  activateWebGpuBackend,
  adapterLabel,
  type DeviceLostInfo,
  liveWebGpuAdapter,
  retireWebGpuBackend,
} from './webgpu.js';

/** Which tfjs backend to run on. `'auto'` prefers a hardware WebGPU adapter, else WASM SIMD. */
export type BackendName = 'auto' | 'webgpu' | 'wasm';

/**
 * Options of {@link initBackend}. Every field is optional; `{}` gives the automatic choice.
 *
 * @example
 * ```ts
 * const options: InitBackendOptions = { backend: 'wasm', wasmPaths: '/static/tfjs-wasm/' };
 * await initBackend(options);
 * ```
 */
export interface InitBackendOptions {
  /**
   * `'auto'` (default): WebGPU on a hardware adapter that passes a self-test, else WASM.
   * `'webgpu'`: WebGPU on any adapter, software fallback adapters included; throws if none.
   * `'wasm'`: WASM SIMD (threaded when the page is cross-origin isolated).
   */
  backend?: BackendName;
  /**
   * Where tfjs-backend-wasm's `.wasm` files are: a folder URL or path prefix ending in `/`, or a
   * URL per file. Default: next to this library's bundle (where the build copies them). Read
   * when the WASM backend first loads; later calls cannot change it. {@link InitBackendOptions.assetBase}
   * covers these and every other file the library loads.
   */
  wasmPaths?: WasmPaths;
  /**
   * Where all of the library's run-time files are (tfjs' `.wasm` files and threads script, the
   * fused kernels, the pretrained weights): the same as calling {@link setAssetBase} first.
   * Default: next to the library's code, where Vite and webpack emit them; see the README for
   * esbuild, Rollup and server bundles.
   */
  assetBase?: AssetBase;
  /**
   * WASM threads, the same setting as `train`'s `threads` (`resolveThreads`): `'auto'`
   * (default) runs half the reported logical cores (at most 4; tfjs' threaded build uses no
   * more) where the page is cross-origin isolated (COOP/COEP) and one thread elsewhere, and
   * falls back to one thread, saying why in `reason`, if the threaded build fails; a number asks
   * for exactly that many (`1`: no threads, the threaded build is never loaded) and rejects with
   * {@link BackendError} if it cannot be had. Node, Deno and Bun run tfjs' WASM single-threaded.
   * Fixed once the WASM backend has started.
   */
  threads?: WasmThreads;
  /**
   * How long the WASM backend may take to start (download, compile, start its threads) before
   * {@link initBackend} rejects with a {@link BackendError} (or, with `threads: 'auto'`, retries
   * single-threaded). Default 30000 ms.
   */
  initTimeoutMs?: number;
  /**
   * Cancels a pending initialisation (checked between steps); the promise then rejects with the
   * signal's reason.
   */
  signal?: AbortSignal;
  /**
   * Let `'auto'` use a fallback/software adapter (SwiftShader, llvmpipe, WARP) too. Default
   * `false`: for LeNet these are about 1000x slower than WASM.
   */
  allowFallbackAdapter?: boolean;
  /**
   * While WebGPU is active, copy every tfjs variable (weights and optimizer state) to the CPU
   * this often, so that a lost device costs at most this much training. Default 2000 ms;
   * `0` disables the timer (`snapshotWeights` still works).
   */
  snapshotIntervalMs?: number;
}

/** The WebGPU adapter as {@link BackendInfo} reports it. */
export interface BackendAdapterInfo {
  /** The adapter's vendor, e.g. `'nvidia'`, `'intel'`, `'google'`; empty when the browser hides it. */
  vendor: string;
  /** The GPU family, e.g. `'ampere'`, `'gen-12lp'`, `'swiftshader'`; empty when hidden. */
  architecture: string;
  /** A fallback/software adapter (SwiftShader, llvmpipe, WARP...). */
  isFallback: boolean;
}

/** What {@link initBackend} chose, and why. */
export interface BackendInfo {
  /** The active tfjs backend. */
  backend: 'webgpu' | 'wasm';
  /** Why it was chosen, including every step that failed on the way. */
  reason: string;
  /** The WebGPU adapter, when WebGPU was probed and an adapter answered. */
  adapter?: BackendAdapterInfo;
  /** WASM SIMD is available. */
  simd: boolean;
  /** Threads the WASM backend runs with (1 unless the page is cross-origin isolated). */
  threads: number;
  /**
   * `false` when lenet-mnist's tfjs was switched to another backend after this was chosen
   * (through `lenet-mnist/tfjs`): the info describes the last {@link initBackend}, not what runs.
   */
  current?: boolean;
}

/** Sent to {@link onBackendChange} listeners. */
export interface BackendChangeEvent {
  /** The backend before the change, `undefined` for the first initialisation. */
  readonly previous: BackendInfo | undefined;
  /** The backend now active (also what {@link getBackendInfo} returns). */
  readonly current: BackendInfo;
  /** `'init'`: an {@link initBackend} call; `'device-lost'`: the WebGPU device was lost. */
  readonly cause: 'init' | 'device-lost';
  /** For `'device-lost'`: how the device was lost and what was carried over to WASM. */
  readonly recovery?: {
    /** WebGPU's account of the loss (`GPUDeviceLostInfo`): its `reason` and `message`. */
    readonly deviceLost: { readonly reason: string; readonly message: string };
    /** Variables (model weights and optimizer state) restored on WASM. */
    readonly restoredVariables: number;
    /** Variables whose values were lost (created and used after the last snapshot): set to NaN. */
    readonly lostVariables: readonly string[];
    /** How old the snapshot used was, in ms; training after it is lost. */
    readonly snapshotAgeMs: number | undefined;
  };
}

/**
 * The backend could not be initialised as asked; the message names the step that failed.
 *
 * @example
 * ```ts
 * try {
 *   await initBackend({ backend: 'webgpu' });
 * } catch (err) {
 *   if (err instanceof BackendError) await initBackend({ backend: 'wasm' });
 *   else throw err;
 * }
 * ```
 */
export class BackendError extends LenetMnistError {}

const DEFAULT_SNAPSHOT_INTERVAL_MS = 2000;

/** The latest initialisation (or recovery), pending or settled. */
let current: Promise<BackendInfo> | undefined;
/** The info of the last one that succeeded. */
let settled: BackendInfo | undefined;
/** The options of the last initialisation: a recovery reuses its `wasmPaths`. */
let lastOptions: InitBackendOptions = {};
const listeners = new Set<(event: BackendChangeEvent) => void>();

/**
 * Initialises the tfjs backend the library computes on. Models, trainers and predictors call it
 * implicitly with the defaults; call it first to choose, or to show the user what was picked.
 * Calling it again with other options switches backend, carrying every tfjs variable (model
 * weights, optimizer state) over. Calls are serialised: each starts after the previous settles.
 *
 * With `'auto'`, WebGPU is used only when `navigator.gpu` exists (Node: the optional `webgpu`
 * package provides it), `requestAdapter()` returns a hardware adapter, the device and tfjs'
 * WebGPU backend initialise, and a small self-test computes the right numbers; every failed
 * step is recorded in `reason`, and WASM SIMD is used instead.
 *
 * @example
 * ```ts
 * import { formatBackendInfo, initBackend } from 'lenet-mnist';
 * const info = await initBackend(); // { backend: 'wasm', reason: 'auto: WebGPU not used: ...', adapter: {...}, simd: true, threads: 1 }
 * console.log(formatBackendInfo(info));
 * ```
 * @param options - `backend` (`'auto'`), `threads` (`'auto'`), `assetBase`, `wasmPaths`,
 *   `initTimeoutMs` (30000), `signal`, `allowFallbackAdapter` (`false`), `snapshotIntervalMs`
 *   (2000); see {@link InitBackendOptions}.
 * @returns What was chosen and why.
 * @throws {@link BackendError} when an explicitly requested backend cannot start (the message
 *   names the step that failed; the backend active before stays active), when the WASM backend
 *   fails to start or does not start within `initTimeoutMs` (the message names a file that
 *   could not be fetched, and where from), when `threads` asks for more threads than the page
 *   allows, or for an unknown `backend` name; `RangeError` for a malformed `threads` or
 *   `initTimeoutMs`; the signal's reason when aborted.
 */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const run = (current ?? Promise.resolve(undefined))
    .catch(() => undefined)
    .then(() => select(options));
  current = run;
  // A failed attempt must not stick: the next call (or ensureBackend) tries again.
  run.catch(() => {
    if (current === run) current = settled !== undefined ? Promise.resolve(settled) : undefined;
  });
  return run;
}

/**
 * The backend chosen so far, initialising it with the defaults on first use.
 *
 * @example
 * ```ts
 * const { backend } = await ensureBackend();
 * ```
 */
export function ensureBackend(): Promise<BackendInfo> {
  return current ?? initBackend();
}

/**
 * The active backend's info, or `undefined` before the first initialisation finished. Synchronous,
 * for status displays.
 *
 * @example
 * ```ts
 * statusBar.textContent = getBackendInfo()?.backend ?? 'starting';
 * ```
 */
export function getBackendInfo(): BackendInfo | undefined {
  if (settled === undefined) return undefined;
  const active = tf.getBackend();
  if (active === settled.backend) return settled;
  // Switched behind initBackend's back (lenet-mnist/tfjs): say so rather than go stale.
  return {
    ...settled,
    current: false,
    reason: `tfjs was switched to '${active}' outside initBackend; last chosen: ${settled.reason}`,
  };
}

/**
 * Calls `listener` after every change of backend: each {@link initBackend} that succeeds, and a
 * switch to WASM after the WebGPU device was lost (driver reset, GPU unplugged, browser reclaiming
 * it). After a loss, the library restores all tfjs variables on WASM from its latest snapshot
 * (see {@link InitBackendOptions.snapshotIntervalMs}); `event.recovery` says how much was saved.
 * An operation that was running on the GPU when it was lost rejects; run it again after the event.
 * Tensors the app holds itself (other than variables) are not carried over.
 *
 * @returns a function that removes the listener.
 * @example
 * ```ts
 * const off = onBackendChange(({ current, cause }) => {
 *   banner.textContent = `${cause === 'device-lost' ? 'GPU lost: ' : ''}${formatBackendInfo(current)}`;
 * });
 * ```
 */
export function onBackendChange(listener: (event: BackendChangeEvent) => void): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

/**
 * Copies every tfjs variable (model weights and optimizer state) to the CPU now, so that a WebGPU
 * device loss restores from this point. Trainers call it at the end of each epoch; the library also
 * does it every {@link InitBackendOptions.snapshotIntervalMs}. Does nothing unless WebGPU is active
 * (a WASM backend cannot be lost).
 *
 * In Node, tfjs cannot read GPU tensors synchronously (it needs OffscreenCanvas), so the
 * synchronous `model.getWeights()` throws on WebGPU (use `await model.readWeights()`); right after
 * `await snapshotWeights()` it works, because the reads leave CPU copies of the current values.
 *
 * @example
 * ```ts
 * for (let epoch = 0; epoch < 5; epoch++) {
 *   await trainOneEpoch(model);
 *   await snapshotWeights();
 * }
 * ```
 */
export async function snapshotWeights(): Promise<void> {
  if (tf.getBackend() !== 'webgpu') return;
  await takeSnapshot();
}

/**
 * One line for a status bar or a CLI: the backend with its essentials, then why it was chosen.
 *
 * @example
 * ```ts
 * formatBackendInfo(await initBackend());
 * // 'WASM SIMD, 1 thread - auto: WebGPU not used: the adapter WebGPU offers, google swiftshader
 * //  (SwiftShader driver 5.0.0), is a software fallback adapter, far slower than WASM here'
 * // 'WebGPU on nvidia ampere - auto: hardware adapter, self-test passed in 41 ms'
 * ```
 */
export function formatBackendInfo(info: BackendInfo): string {
  return `${backendLabel(info)} - ${info.reason}`;
}

function backendLabel(info: BackendInfo): string {
  if (info.backend === 'webgpu') {
    const a = info.adapter;
    const name = a !== undefined ? adapterLabel({ ...a, description: '' }) : 'unknown adapter';
    return `WebGPU on ${name}${a?.isFallback ? ' (software fallback adapter)' : ''}`;
  }
  const threads = `${info.threads} thread${info.threads === 1 ? '' : 's'}`;
  return `WASM ${info.simd ? 'SIMD' : '(no SIMD)'}, ${threads}`;
}

function publicAdapter(a: AdapterSummary | undefined): BackendAdapterInfo | undefined {
  return a === undefined
    ? undefined
    : { vendor: a.vendor, architecture: a.architecture, isFallback: a.isFallback };
}

/**
 * Why WASM runs the way it does, when the label ("WASM SIMD, 1 thread") alone would puzzle: no
 * SIMD, or one thread in a browser (where threads can exist), or threads dropped by `'auto'`.
 */
function wasmNote(env: RuntimeEnvironment, threadsNote: string | undefined): string | undefined {
  const notes: string[] = [];
  if (!env.wasm.simd) notes.push('this runtime has no WASM SIMD');
  const browserLike = env.runtime === 'browser' || env.runtime === 'webworker';
  if (threadsNote !== undefined && (browserLike || threadsNote.startsWith('threads:'))) {
    notes.push(threadsNote);
  }
  return notes.length > 0 ? notes.join('; ') : undefined;
}

/** The WASM options of an initBackend call; `wasmPaths` sticks from an earlier call. */
function wasmOptions(options: InitBackendOptions) {
  const out: Parameters<typeof activateWasmBackend>[0] = {};
  const wasmPaths = options.wasmPaths ?? lastOptions.wasmPaths;
  if (wasmPaths !== undefined) out.wasmPaths = wasmPaths;
  if (options.threads !== undefined) out.threads = options.threads;
  if (options.initTimeoutMs !== undefined) out.timeoutMs = options.initTimeoutMs;
  return out;
}

let sideEffects: Promise<unknown> | undefined;
/**
 * tfjs-core's platform registration and its gradients, loaded here (a chunk of their own) rather
 * than as bare imports at the top of modules, so that bundlers can drop everything tfjs from apps
 * that use only the data layer (package.json `sideEffects: false`) without ever dropping these.
 */
function loadTfjsSideEffects(): Promise<unknown> {
  // Where they already ran (unbundled, or kept by the app's bundler), importing a second copy
  // would register everything twice (with tfjs' "already set" warnings).
  sideEffects ??= Promise.all([
    tf.env().platform == null ? import('@tensorflow/tfjs-core/dist/base_side_effects') : undefined,
    tf.getGradient('RealDiv') === undefined
      ? import('@tensorflow/tfjs-core/dist/register_all_gradients')
      : undefined,
  ]);
  return sideEffects;
}

async function select(options: InitBackendOptions): Promise<BackendInfo> {
  const wanted = options.backend ?? 'auto';
  if (wanted !== 'auto' && wanted !== 'webgpu' && wanted !== 'wasm') {
    throw new BackendError(
      `Unknown backend ${JSON.stringify(wanted)}: expected "auto", "webgpu" or "wasm"`,
    );
  }
  // An OptionError (a RangeError) naming `threads`, before any work.
  if (options.threads !== undefined) resolveThreads(options.threads, { kind: 'wasm-backend' });
  if (
    options.initTimeoutMs !== undefined &&
    !(typeof options.initTimeoutMs === 'number' && options.initTimeoutMs > 0)
  ) {
    throw new RangeError(
      `initTimeoutMs must be a positive number, got ${String(options.initTimeoutMs)}`,
    );
  }
  options.signal?.throwIfAborted();
  if (options.assetBase !== undefined) setAssetBase(options.assetBase);
  await loadTfjsSideEffects();
  const env = detectEnvironment();
  const previous = settled;
  const leavingWebGpu = tf.getBackend() === 'webgpu' && liveWebGpuAdapter() !== undefined;

  if (wanted !== 'wasm') {
    const attempt = await activateWebGpuBackend({
      allowFallback: wanted === 'webgpu' || options.allowFallbackAdapter === true,
      onDeviceLost: handleDeviceLost,
      signal: options.signal,
    });
    if (attempt.ok) {
      const hardware = attempt.adapter.isFallback
        ? 'software fallback adapter'
        : 'hardware adapter';
      const info: BackendInfo = {
        backend: 'webgpu',
        reason: `${wanted === 'auto' ? 'auto' : 'WebGPU requested'}: ${hardware}, ${attempt.detail}`,
        adapter: publicAdapter(attempt.adapter),
        simd: env.wasm.simd,
        threads: 1,
      };
      startAutoSnapshot(options.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS);
      return commit(info, options, previous);
    }
    if (wanted === 'webgpu') {
      await restorePreviousBackend(previous, leavingWebGpu);
      throw new BackendError(`WebGPU was requested but cannot be used: ${attempt.reason}`);
    }
    return commit(
      await switchToWasm(
        env,
        options,
        leavingWebGpu,
        `auto: WebGPU not used: ${attempt.reason}`,
        attempt.adapter,
      ),
      options,
      previous,
    );
  }
  return commit(
    await switchToWasm(env, options, leavingWebGpu, 'WASM requested'),
    options,
    previous,
  );
}

async function switchToWasm(
  env: RuntimeEnvironment,
  options: InitBackendOptions,
  leavingWebGpu: boolean,
  why: string,
  adapter?: AdapterSummary,
): Promise<BackendInfo> {
  // Leaving a live WebGPU backend voluntarily: copy its variables first, then give them values
  // on WASM right away. tfjs would otherwise move them lazily with a synchronous GPU read, which
  // Node cannot do (tfjs' webgpu readSync needs OffscreenCanvas).
  // A device that fails now still leaves the last periodic snapshot.
  const snapshot = leavingWebGpu ? await takeSnapshot().catch(() => latestSnapshot()) : undefined;
  stopAutoSnapshot();
  let start: Awaited<ReturnType<typeof activateWasmBackend>>;
  try {
    start = await activateWasmBackend(wasmOptions(options), env);
  } catch (err) {
    throw new BackendError(`WASM backend failed to start: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (snapshot !== undefined) await restoreVariables(snapshot);
  clearSnapshot();
  const info: BackendInfo = {
    backend: 'wasm',
    reason: [why, wasmNote(env, start.note)].filter((p) => p !== undefined).join('; '),
    simd: env.wasm.simd,
    threads: start.threads,
  };
  const shown = publicAdapter(adapter);
  if (shown !== undefined) info.adapter = shown;
  return info;
}

/** After a failed explicit WebGPU request, make sure tfjs is back where it was. */
async function restorePreviousBackend(
  previous: BackendInfo | undefined,
  wasOnWebGpu: boolean,
): Promise<void> {
  if (wasOnWebGpu || previous === undefined) return;
  if (tf.getBackend() !== previous.backend) await tf.setBackend(previous.backend);
}

function commit(
  info: BackendInfo,
  options: InitBackendOptions,
  previous: BackendInfo | undefined,
): BackendInfo {
  lastOptions = options;
  settled = info;
  if (
    previous === undefined ||
    previous.backend !== info.backend ||
    previous.adapter?.architecture !== info.adapter?.architecture
  ) {
    emit({ previous, current: info, cause: 'init' });
  }
  return info;
}

function emit(event: BackendChangeEvent): void {
  for (const listener of listeners) {
    try {
      listener(event);
    } catch (err) {
      // A broken listener must not stop the others, nor a device-loss recovery.
      console.error('lenet-mnist: an onBackendChange listener threw', err);
    }
  }
}

/**
 * The WebGPU device behind the active backend is gone: switch tfjs to WASM, give every variable
 * its last snapshot value there, tell the listeners. Queued like an {@link initBackend} call, so
 * `ensureBackend()` waits for the recovery.
 */
function handleDeviceLost(lost: DeviceLostInfo): void {
  const run = (current ?? Promise.resolve(undefined))
    .catch(() => undefined)
    .then(async () => {
      const info = await recover(lost);
      if (info === undefined) throw new BackendError('no backend is active');
      return info;
    });
  current = run;
  run.catch(() => {
    if (current === run) current = undefined;
  });
}

async function recover(lost: DeviceLostInfo): Promise<BackendInfo | undefined> {
  const previous = settled;
  if (tf.getBackend() !== 'webgpu') {
    // The app had already switched to WASM (variables were carried over then): just let go of
    // the dead device; nothing changes for the app.
    retireWebGpuBackend();
    return previous;
  }
  stopAutoSnapshot();
  const env = detectEnvironment();
  const snapshot = latestSnapshot();
  const start = await activateWasmBackend(wasmOptions(lastOptions), env);
  const restored: RestoreResult = await restoreVariables(snapshot);
  // Only now: restoring disposes the variables' old values, which needs the old backend object.
  retireWebGpuBackend();
  clearSnapshot();
  const saved =
    restored.snapshotAgeMs !== undefined
      ? `restored ${restored.restored} variables from a snapshot taken ${(restored.snapshotAgeMs / 1000).toFixed(1)} s earlier`
      : `restored ${restored.restored} variables (no snapshot had been taken)`;
  const lostNames =
    restored.lost.length > 0
      ? `; ${restored.lost.length} variables could not be restored and hold NaN: ${restored.lost.slice(0, 5).join(', ')}${restored.lost.length > 5 ? ', ...' : ''}`
      : '';
  const info: BackendInfo = {
    backend: 'wasm',
    reason: [
      `WebGPU device lost (${lost.reason}${lost.message !== '' ? `: ${lost.message}` : ''}); switched to WASM; ${saved}${lostNames}`,
      wasmNote(env, start.note),
    ]
      .filter((p) => p !== undefined)
      .join('; '),
    simd: env.wasm.simd,
    threads: start.threads,
  };
  if (previous?.adapter !== undefined) info.adapter = previous.adapter;
  settled = info;
  emit({
    previous,
    current: info,
    cause: 'device-lost',
    recovery: {
      deviceLost: { reason: lost.reason, message: lost.message },
      restoredVariables: restored.restored,
      lostVariables: restored.lost,
      snapshotAgeMs: restored.snapshotAgeMs,
    },
  });
  return info;
}
