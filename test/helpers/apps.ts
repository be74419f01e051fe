// Running a built app and comparing its numbers (test/package/consumers.test.ts).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs `command args` and parses the JSON line the app prints last. */
export async function runApp(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
) {
  const { stdout } = await run(command, args, {
    cwd,
    timeout: 90_000,
    maxBuffer: 1 << 24,
    env: { ...process.env, ...env },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string);
}

/** Largest |a - b| over two tables of rows (Infinity when a cell is missing or NaN). */
export function maxDiff(a: number[][], b: number[][]): number {
  let max = 0;
  a.forEach((row, i) => {
    row.forEach((v, j) => {
      max = Math.max(max, Math.abs(v - (b[i]?.[j] ?? Number.NaN)));
    });
  });
  return Number.isNaN(max) ? Number.POSITIVE_INFINITY : max;
}

// The consumer harness's manifest (test/consumers/harness.mjs) and what serving its apps needs.
export interface AppBuild {
  dir: string;
  size: {
    js: { raw: number; gzip: number; files: number };
    wasm: { raw: number; gzip: number; files: number };
    other: string[];
  };
  copied: string[];
}
export interface Manifest {
  dir: string;
  consumer: string;
  digitsFile: string;
  packed: { tarball: string; size: number; unpackedSize: number; files: string[] };
  nodeModulesBytes: number;
  installed: string[];
  apps: Record<string, AppBuild>;
  server: { dir: string; file: string };
  cached: boolean;
  seconds: number;
}

export const ASSETS = [
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
export const BROWSER_ARGS = [
  '--no-sandbox',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
];
export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
};
