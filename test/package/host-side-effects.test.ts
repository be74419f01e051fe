// A library is a guest in its host's process: after loading the package, starting the WASM
// backend (WebGPU probed first), predicting and training on worker threads, the process has no
// listener, global or exit code the package added, and the app's own uncaught error or unhandled
// rejection behaves exactly as without the package (exit code, first stack frame, Node's
// --unhandled-rejections). Runs the built package (dist/) in Node, Deno and Bun, in child
// processes, with test/fixtures/host-app.mjs. Before issue 21, Emscripten's Node glue bundled
// from tfjs-backend-wasm rethrew every such error from its own listener (exit code 7).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { initBackend } from '../../src/index.js';

const app = 'test/fixtures/host-app.mjs';
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';

const runtimes: [string, string, string[]][] = [
  ['node', process.execPath, []],
  ['deno', 'node_modules/.bin/deno', ['run', '-A']],
  ['bun', 'node_modules/.bin/bun', []],
];

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runApp(command: string, args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        timeout: 180_000,
        maxBuffer: 1 << 24,
        // A Vulkan driver (SwiftShader, where Chromium is installed) gets Dawn's navigator.gpu
        // installed and probed, then rejected as a software adapter: its globals must go too.
        env: {
          ...process.env,
          NO_COLOR: '1',
          ...(existsSync(swiftshader) ? { VK_ICD_FILENAMES: swiftshader } : {}),
        },
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The first stack frame of the app's error, as the runtime printed it. */
function firstFrame(stderr: string): string | undefined {
  return stderr.split('\n').find((line) => /^\s+at /.test(line));
}

interface HostState {
  listeners: Record<string, number>;
  globals: string[];
  navigatorGpu: boolean;
  exitCode: number | null;
}

describe.each(runtimes)('the host process in %s', (_name, command, pre) => {
  test('keeps no listener, global or exit code of the package after load, predict (one and split batches), train with threads and WebGPU probing', async () => {
    expect(existsSync('dist/index.js'), 'run `npm run build` first').toBe(true);
    const outcome = await runApp(command, [...pre, app, 'use', 'throw', 'report']);
    const line = outcome.stdout.split('\n').find((l) => l.startsWith('{'));
    expect(line, outcome.stderr).toBeDefined();
    const report = JSON.parse(line as string) as {
      backend: string;
      reason: string;
      threads: number;
      splitSame: boolean;
      before: HostState;
      after: HostState;
    };
    // It did use the package: the backend ran, and training ran on 2 worker threads.
    expect(report.backend).toBe('wasm');
    expect(report.threads).toBe(2);
    // predictBatch of 128 digits with threads 2 (the inference pool): the 1-thread bits.
    expect(report.splitSame).toBe(true);
    // With a Vulkan driver the WebGPU probe reached an adapter (Node and Bun: through Dawn's
    // navigator.gpu, installed for the probe) before WASM was chosen.
    if (existsSync(swiftshader)) expect(report.reason).toMatch(/is a software fallback adapter/);
    expect(report.after.listeners).toEqual(report.before.listeners);
    expect(report.after.globals).toEqual(report.before.globals);
    expect(report.after.navigatorGpu).toBe(report.before.navigatorGpu);
    expect(report.after.exitCode).toBe(report.before.exitCode);
  });

  test.each(['throw', 'reject'])("the app's own %s behaves as without the package", async (bug) => {
    const [plain, withPackage] = await Promise.all([
      runApp(command, [...pre, app, 'none', bug]),
      runApp(command, [...pre, app, 'use', bug]),
    ]);
    expect(plain.code).not.toBe(0);
    expect(withPackage.code, withPackage.stderr).toBe(plain.code);
    const frame = firstFrame(plain.stderr);
    expect(frame, plain.stderr).toBeDefined();
    expect(frame).toMatch(/host-app\.mjs|throw new Error|Promise\.reject/);
    expect(firstFrame(withPackage.stderr)).toBe(frame);
    expect(withPackage.stderr).toContain(bug === 'throw' ? 'my own app bug' : 'my own rejection');
    expect(withPackage.stderr).not.toMatch(/lenet-mnist|dist[\\/]/);
  });
});

describe('Node --unhandled-rejections', () => {
  test.each(['warn', 'none'])(
    '--unhandled-rejections=%s is respected: the app keeps running and exits with 0',
    async (mode) => {
      const outcome = await runApp(process.execPath, [
        `--unhandled-rejections=${mode}`,
        app,
        'use',
        'reject',
      ]);
      expect(outcome.code, outcome.stderr).toBe(0);
      expect(outcome.stdout).toContain('still running');
      if (mode === 'warn') expect(outcome.stderr).toContain('my own rejection');
    },
  );
});

describe('tfjs loaded unbundled (the sources, as tests and source bundlers run them)', () => {
  test("starting the WASM backend leaves the process's error listeners as they were", async () => {
    // Published tfjs' glue installs its rethrowing listeners here (the package's own build has
    // them patched out); initBackend removes exactly those.
    const before = ['uncaughtException', 'unhandledRejection'].map((e) =>
      process.listeners(e as 'uncaughtException'),
    );
    await initBackend({ backend: 'wasm', threads: 1 });
    const after = ['uncaughtException', 'unhandledRejection'].map((e) =>
      process.listeners(e as 'uncaughtException'),
    );
    expect(after).toEqual(before);
  });
});
