/**
 * Every file the library loads at run time, and the one place that decides where each is.
 *
 * By default each asset sits next to the code that loads it: call sites pass a literal
 * `new URL('./file', import.meta.url)`, the pattern Vite and webpack understand (they emit the
 * file and rewrite the URL); unbundled (tests) and in the published package the file is next to
 * the module. Bundlers that do not emit such assets (esbuild, Rollup without a plugin, a Node
 * server bundle) leave the URL pointing next to the bundle: the app copies the files there, or
 * names another place with {@link setAssetBase} (`initBackend({ assetBase })`).
 */
import { LenetMnistError, OptionError } from '../errors.js';
import { checkOptionKeys, describeValue } from '../options.js';
import { platform } from './index.js';

/**
 * The files lenet-mnist loads at run time, by their names in the package's `dist/`.
 *
 * @example
 * ```ts
 * const weights: AssetName = 'lenet-mnist.weights';
 * setAssetBase({ [weights]: '/models/lenet-mnist.weights' }); // that file from elsewhere
 * ```
 */
export type AssetName =
  | 'tfjs-backend-wasm.wasm'
  | 'tfjs-backend-wasm-simd.wasm'
  | 'tfjs-backend-wasm-threaded-simd.wasm'
  | 'tfjs-backend-wasm-threaded-simd.worker.js'
  | 'lenet-simd.wasm'
  | 'lenet-relaxed-simd.wasm'
  | 'net-simd.wasm'
  | 'net-relaxed-simd.wasm'
  | 'lenet-mnist.weights';

/**
 * Every {@link AssetName}, for apps and tools that copy the files.
 *
 * @example
 * ```ts
 * // A build step that copies lenet-mnist's run-time files next to an esbuild bundle (Node).
 * for (const name of ASSET_NAMES) {
 *   await copyFile(fileURLToPath(import.meta.resolve(`lenet-mnist/assets/${name}`)), `out/${name}`);
 * }
 * ```
 */
export const ASSET_NAMES: readonly AssetName[] = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.worker.js',
  'lenet-simd.wasm',
  'lenet-relaxed-simd.wasm',
  'net-simd.wasm',
  'net-relaxed-simd.wasm',
  'lenet-mnist.weights',
];

/**
 * Where the library's run-time files are: a folder (URL, or a path in Node) holding all of
 * them under their {@link AssetName}s, or a location per file (files left out keep their
 * default place, next to the library's code).
 *
 * @example
 * ```ts
 * const cdn: AssetBase = 'https://cdn.example.com/lenet-mnist@0.1.0/dist/';
 * const mixed: AssetBase = { 'lenet-mnist.weights': '/models/lenet.weights' };
 * ```
 */
export type AssetBase = string | URL | Partial<Record<AssetName, string | URL>>;

/**
 * A run-time file of the library could not be loaded. The message names the file and the URL
 * or path that was tried, and how to point the library elsewhere.
 *
 * @example
 * ```ts
 * try {
 *   await loadPretrained();
 * } catch (err) {
 *   if (err instanceof AssetError) console.error(`missing ${err.asset} at ${err.location}`);
 *   throw err;
 * }
 * ```
 */
export class AssetError extends LenetMnistError {
  /** Which file. */
  readonly asset: AssetName;
  /** The URL or path that was tried. */
  readonly location: string;

  constructor(asset: AssetName, location: string, detail: string, options?: ErrorOptions) {
    super(
      `lenet-mnist could not load its file ${asset} from ${location} (${detail}). ` +
        "Serve the package's dist/ files there (esbuild, Rollup and server bundles do not emit them: copy " +
        'node_modules/lenet-mnist/dist/*.{wasm,weights,worker.js} next to your bundle), or point to them with setAssetBase(...) / initBackend({ assetBase }).',
      options,
    );
    this.asset = asset;
    this.location = location;
  }
}

let base: AssetBase | undefined;

/**
 * Points the library at its run-time files (tfjs' `.wasm` binaries and worker script, the fused
 * kernels, the pretrained weights): call it before the first {@link initBackend} or
 * {@link loadPretrained}, typically when the files are served from a CDN or copied by a build
 * step. `undefined` restores the default (next to the library's code). The tfjs files are read
 * when the WASM backend first starts; later calls do not move them.
 *
 * @param assetBase - a folder URL (ending in `/`; relative URLs resolve against the page) or a
 *   Node path, or a location per file.
 * @example
 * ```ts
 * import { setAssetBase } from 'lenet-mnist';
 * setAssetBase('/static/lenet-mnist/'); // holds every file of node_modules/lenet-mnist/dist/ but the .js
 * ```
 */
export function setAssetBase(assetBase: AssetBase | undefined): void {
  if (
    assetBase !== undefined &&
    typeof assetBase !== 'string' &&
    !(assetBase instanceof URL) &&
    (typeof assetBase !== 'object' || assetBase === null || Array.isArray(assetBase))
  ) {
    throw new OptionError(
      'assetBase',
      `setAssetBase: assetBase must be a folder URL or path, or an object of file locations, got ${describeValue(assetBase)}`,
    );
  }
  if (typeof assetBase === 'object' && !(assetBase instanceof URL)) {
    // A misspelt file name would otherwise be ignored, and that file loaded from the default.
    checkOptionKeys('setAssetBase', assetBase, ASSET_NAMES, 'assetBase.');
  }
  base = assetBase;
}

/** The configured override of one asset, if any, as the host's loaders take it. */
function override(name: AssetName): string | undefined {
  if (base === undefined) return undefined;
  if (typeof base === 'string' || base instanceof URL) {
    const folder = String(base);
    return joinLocation(folder, name);
  }
  const one = base[name];
  return one === undefined ? undefined : resolveAgainstPage(String(one));
}

/** Relative URLs resolve against the page (where `location` exists); Node paths stay paths. */
function resolveAgainstPage(location: string): string {
  const page = (globalThis as { location?: { href?: string } }).location?.href;
  if (platform.name === 'browser' && page !== undefined) return new URL(location, page).href;
  return location;
}

function joinLocation(folder: string, name: string): string {
  const withSlash = folder.endsWith('/') || folder.endsWith('\\') ? folder : `${folder}/`;
  return resolveAgainstPage(`${withSlash}${name}`);
}

/**
 * The literal `new URL('./name', import.meta.url)` of a call site, passed as a function so that
 * it is evaluated only when the file is looked up there: runtimes such as Cloudflare's workerd
 * give modules no `import.meta.url`, and apps there provide the files with {@link setAssets}.
 */
export type BuiltInUrl = () => URL;

/**
 * Where `name` is loaded from: the override of {@link setAssetBase}, else `builtIn`, the
 * literal `new URL('./name', import.meta.url)` of the call site, as the host's loaders take it
 * (a filesystem path in Node for `file:` URLs, the URL string otherwise).
 *
 * @throws {@link AssetError} where the runtime has no `import.meta.url` and no override is set.
 */
export function assetLocation(name: AssetName, builtIn: BuiltInUrl): string {
  const configured = override(name);
  if (configured !== undefined) return configured;
  let url: URL;
  try {
    url = builtIn();
  } catch (err) {
    throw new AssetError(
      name,
      '(next to the library code: this runtime gives modules no import.meta.url)',
      `provide it with setAssets({ '${name}': ... }) or point to it with setAssetBase(...)`,
      { cause: err },
    );
  }
  return platform.assetLocation(url);
}

/**
 * The content of a run-time file, given by the app instead of a location (see
 * {@link setAssets}): a compiled `WebAssembly.Module` (`.wasm` files only) or the file's bytes.
 *
 * @example
 * ```ts
 * import lenetSimd from 'lenet-mnist/assets/lenet-simd.wasm'; // a bundler's wasm module import
 * const data: AssetData = lenetSimd;
 * ```
 */
export type AssetData = CompiledWasmModule | ArrayBuffer | ArrayBufferView;

/**
 * A compiled `WebAssembly.Module`. Typed as any object so that the package's types need neither
 * the DOM lib nor Node's (which do not all declare `WebAssembly`); {@link setAssets} checks at
 * run time that it is one.
 *
 * @example
 * ```ts
 * const module: CompiledWasmModule = await WebAssembly.compileStreaming(fetch('/lenet-simd.wasm'));
 * ```
 */
export type CompiledWasmModule = object;

/**
 * Files given to {@link setAssets} by name. The threaded build's worker script is a script, so it
 * is not among them (threads need a URL: {@link setAssetBase}).
 *
 * @example
 * ```ts
 * const assets: ProvidedAssets = { 'lenet-mnist.weights': await (await fetch(url)).arrayBuffer() };
 * ```
 */
export type ProvidedAssets = Partial<
  Record<Exclude<AssetName, 'tfjs-backend-wasm-threaded-simd.worker.js'>, AssetData>
>;

let provided: ProvidedAssets = {};

/**
 * Gives the library its run-time files as content instead of locations: compiled
 * `WebAssembly.Module`s or bytes for the `.wasm` files (tfjs' binaries, the fused kernels), bytes
 * for the pretrained weights. For runtimes that have no `import.meta.url` or file system, or that
 * forbid compiling WebAssembly at run time (Cloudflare Workers / workerd: the modules arrive
 * precompiled through the bundler or the config). A provided file is used as is, never fetched;
 * a file the library needs that is neither provided nor reachable is an {@link AssetError}
 * (tfjs' binaries: a `BackendError`). Call it before the first {@link initBackend}, like
 * {@link setAssetBase}; `undefined` forgets what was provided. What is provided wins over
 * `setAssetBase`. Where some of a kernel set's builds are provided, the library picks among
 * those (e.g. only `lenet-simd.wasm`: plain SIMD, even where relaxed SIMD exists).
 *
 * @param assets - the files by their {@link AssetName}; those left out are found as usual.
 * @throws {@link OptionError} for an unknown file name, a value that is not a module or bytes, or
 *   a `WebAssembly.Module` for the weights.
 * @example
 * ```ts
 * // A Cloudflare Worker: wasm and data modules come from the bundle, compiled by the runtime.
 * import { createPredictor, loadPretrained, setAssets } from 'lenet-mnist';
 * import tfjsSimd from 'lenet-mnist/assets/tfjs-backend-wasm-simd.wasm';
 * import lenetSimd from 'lenet-mnist/assets/lenet-simd.wasm';
 * import weights from 'lenet-mnist/assets/lenet-mnist.weights';
 * setAssets({
 *   'tfjs-backend-wasm-simd.wasm': tfjsSimd,
 *   'lenet-simd.wasm': lenetSimd,
 *   'lenet-mnist.weights': weights,
 * });
 * const predictor = await createPredictor(await loadPretrained());
 * ```
 */
export function setAssets(assets: ProvidedAssets | undefined): void {
  if (assets === undefined) {
    provided = {};
    return;
  }
  if (typeof assets !== 'object' || assets === null || Array.isArray(assets)) {
    throw new OptionError(
      'assets',
      `setAssets: assets must be an object of files by name, got ${describe(assets)}`,
    );
  }
  const next: ProvidedAssets = {};
  for (const [name, value] of Object.entries(assets)) {
    if (
      !(ASSET_NAMES as readonly string[]).includes(name) ||
      name === 'tfjs-backend-wasm-threaded-simd.worker.js'
    ) {
      throw new OptionError(
        name,
        `setAssets: unknown file '${name}'; files that can be provided: ${ASSET_NAMES.filter((n) => n.endsWith('.wasm') || n.endsWith('.weights')).join(', ')}`,
      );
    }
    if (value === undefined) continue;
    const isModule = typeof WebAssembly !== 'undefined' && value instanceof WebAssembly.Module;
    const isBytes = value instanceof ArrayBuffer || ArrayBuffer.isView(value);
    if (isModule && !name.endsWith('.wasm')) {
      throw new OptionError(
        name,
        `setAssets: '${name}' must be bytes (ArrayBuffer or a typed array), got a WebAssembly.Module`,
      );
    }
    if (!isModule && !isBytes) {
      throw new OptionError(
        name,
        `setAssets: '${name}' must be a WebAssembly.Module or bytes (ArrayBuffer or a typed array), got ${describe(value)}`,
      );
    }
    next[name as keyof ProvidedAssets] = value;
  }
  provided = next;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return `${typeof value} ${String(value).slice(0, 40)}`;
}

/** The file the app provided with {@link setAssets}, if any. */
export function providedAsset(name: AssetName): AssetData | undefined {
  return provided[name as keyof ProvidedAssets];
}

/** Provided content as bytes (views share the app's buffer: nothing here writes to them). */
function bytesOf(name: AssetName, data: AssetData): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new AssetError(
    name,
    '(provided with setAssets)',
    'a WebAssembly.Module has no bytes to read',
  );
}

/**
 * Reads an asset's bytes: what {@link setAssets} provided, else from its location; a failure is
 * an {@link AssetError} naming the file and location (never a silent fallback).
 */
export async function readAsset(name: AssetName, builtIn: BuiltInUrl): Promise<Uint8Array> {
  const given = providedAsset(name);
  if (given !== undefined) return bytesOf(name, given);
  const location = assetLocation(name, builtIn);
  try {
    return await platform.readFile(location);
  } catch (err) {
    throw new AssetError(name, location, (err as Error).message ?? String(err), { cause: err });
  }
}

/**
 * Why an asset cannot be read, or `undefined` if it can: for diagnosing a loader (tfjs) that
 * failed without saying which URL it tried.
 */
export async function probeAsset(
  name: AssetName,
  location: string,
  timeoutMs = 5000,
): Promise<AssetError | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  // A server that never answers must not turn a diagnosis into a hang.
  const stalled = new Promise<'stalled'>((resolve) => {
    timer = setTimeout(() => resolve('stalled'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([platform.readFile(location), stalled]);
    if (outcome === 'stalled') {
      return new AssetError(name, location, `no complete answer within ${timeoutMs} ms`);
    }
    return undefined;
  } catch (err) {
    return new AssetError(name, location, (err as Error).message ?? String(err), { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/** A location as an absolute URL string (workers created from blobs cannot resolve relative ones). */
export function absoluteUrl(location: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(location) && !/^[a-z]:[\\/]/i.test(location)) return location;
  const page = (globalThis as { location?: { href?: string } }).location?.href;
  return page !== undefined ? new URL(location, page).href : location;
}
