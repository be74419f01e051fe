// Builds the workerd example and serves it with the real workerd binary (npm `workerd`):
//
//   npm run workerd -- [PORT]      (after `npm run build`; default port 8787)
//   curl --data-binary @digit.raw http://127.0.0.1:PORT/predict
//
// esbuild bundles worker.js with the package's browser build; the package's assets are copied
// next to the bundle, imported as modules that config.capnp declares (wasm and data modules).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(here, 'build');

/** Bundles the Worker and copies the assets it imports; returns the bundle's path. */
export async function buildWorker() {
  if (!existsSync(join(root, 'dist', 'browser.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first');
  }
  mkdirSync(out, { recursive: true });
  const assets = new Set();
  await esbuild.build({
    entryPoints: [join(here, 'worker.js')],
    absWorkingDir: root,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    outfile: join(out, 'worker.js'),
    logLevel: 'error',
    plugins: [
      {
        name: 'lenet-mnist-assets-as-modules',
        setup(build) {
          // `lenet-mnist/assets/<file>` stays an import of the module <file> (config.capnp).
          build.onResolve({ filter: /^lenet-mnist\/assets\// }, (args) => {
            const name = args.path.slice('lenet-mnist/assets/'.length);
            assets.add(name);
            return { path: `./${name}`, external: true };
          });
          // The package itself, as an app's node_modules/lenet-mnist would give it.
          build.onResolve({ filter: /^lenet-mnist$/ }, () => ({
            path: join(root, 'dist', 'browser.js'),
          }));
        },
      },
    ],
  });
  for (const name of assets) copyFileSync(join(root, 'dist', name), join(out, name));
  return join(out, 'worker.js');
}

/** Starts workerd on 127.0.0.1:port (the npm package's binary for this platform). */
export async function startWorkerd(port, stdio = 'inherit') {
  // The package's main exports the binary's path (CommonJS: `default`, under interop twice).
  const workerd = await import('workerd');
  const bin = [workerd.default, workerd.default?.default].find((p) => typeof p === 'string');
  return spawn(
    bin,
    ['serve', join(here, 'config.capnp'), '--socket-addr', `http=127.0.0.1:${port}`],
    { stdio: ['ignore', stdio, stdio] },
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 8787);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`usage: npm run workerd -- [PORT] (got ${process.argv[2]})`);
    process.exit(2);
  }
  await buildWorker();
  const child = await startWorkerd(port);
  console.log(`workerd serves the lenet-mnist example on http://127.0.0.1:${port}/predict`);
  const stop = () => child.kill('SIGTERM');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  child.on('exit', (code) => process.exit(code ?? 0));
}
