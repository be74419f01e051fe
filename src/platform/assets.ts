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
 * Where `name` is loaded from: the override of {@link setAssetBase}, else `builtIn`, the
 * literal `new URL('./name', import.meta.url)` of the call site, as the host's loaders take it
 * (a filesystem path in Node for `file:` URLs, the URL string otherwise).
 */
export function assetLocation(name: AssetName, builtIn: URL): string {
  return override(name) ?? platform.assetLocation(builtIn);
}

/**
 * Reads an asset's bytes; a failure is an {@link AssetError} naming the file and location
 * (never a silent fallback).
 */
export async function readAsset(name: AssetName, builtIn: URL): Promise<Uint8Array> {
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
