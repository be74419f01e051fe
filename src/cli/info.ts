/** `lenet-mnist info`: version, runtime, WebAssembly features, the backend `auto` picks and why. */
import { availableParallelism } from 'node:os';
import { detectEnvironment } from '../backend/env.js';
import { formatBackendInfo } from '../backend/select.js';
import { chooseEngine } from '../engine/choose.js';
import { VERSION } from '../version.js';
import type { Command } from './command.js';
import { DEFAULT_LENET_SPEC } from './models.js';
import { BACKEND_OPTION, readBackendOption, startBackend } from './shared.js';

export const infoCommand: Command = {
  name: 'info',
  summary:
    'Show the version, runtime, WebAssembly features and the backend `auto` picks, with why.',
  usage: 'info [options]',
  options: { ...BACKEND_OPTION },
  async run({ args, out }) {
    const backend = readBackendOption(args);
    const env = detectEnvironment();
    const info = await startBackend(backend, out);
    const engine = chooseEngine(DEFAULT_LENET_SPEC, info.backend, 'auto');
    const variant =
      engine.kind === 'fused' ? (env.wasm.relaxedSimd ? 'relaxed-simd' : 'simd') : undefined;
    const runtime = `Node ${process.versions.node} (${process.platform} ${process.arch})`;
    const cores = availableParallelism();
    if (out.json) {
      out.record({
        version: VERSION,
        runtime: {
          name: 'node',
          version: process.versions.node,
          platform: process.platform,
          arch: process.arch,
          cores,
        },
        wasm: env.wasm,
        backend: info.backend,
        backendReason: info.reason,
        adapter: info.adapter,
        threads: info.threads,
        engine: { kind: engine.kind, variant, reason: engine.reason },
      });
      return 0;
    }
    const s = out.style;
    const yes = (v: boolean) => (v ? s.green('yes') : s.yellow('no'));
    const relaxedNote =
      !env.wasm.relaxedSimd && Number(process.versions.node.split('.')[0]) < 22
        ? ' (Node 20: run with --experimental-wasm-relaxed-simd)'
        : '';
    const rows: [string, string][] = [
      ['version', `lenet-mnist ${VERSION}`],
      ['runtime', `${runtime}, ${cores} CPU core${cores === 1 ? '' : 's'}`],
      [
        'WebAssembly',
        `SIMD ${yes(env.wasm.simd)}, relaxed SIMD ${yes(env.wasm.relaxedSimd)}${relaxedNote}, threads ${yes(env.wasm.threads)}`,
      ],
      [`backend (${backend})`, formatBackendInfo(info)],
      [
        'LeNet engine',
        `${engine.kind === 'fused' ? `fused WASM kernels (${variant})` : engine.kind === 'webgpu' ? 'fused WebGPU kernels (WGSL)' : 'tfjs ops'} - ${engine.reason}`,
      ],
    ];
    const width = Math.max(...rows.map(([k]) => k.length)) + 2;
    for (const [k, v] of rows) out.line(`${s.bold(`${k}:`.padEnd(width))}${v}`);
    return 0;
  },
};
