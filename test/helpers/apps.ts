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
