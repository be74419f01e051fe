// Roofline of 128-bit WebAssembly SIMD multiply-add in this engine (issue 23): how many f32
// multiply-adds per second one thread can reach, with operands in registers and with the load
// mixes of the fused conv kernels (asm/lenet.ts), and what that implies for one LeNet digit.
// Compiles its own small AssemblyScript module at run time (nothing is written to disk) in both
// builds: plain SIMD (f32x4.mul + f32x4.add, 2 instructions) and relaxed SIMD (relaxed_madd);
// the latter only where the engine validates it (Node 20: --experimental-wasm-relaxed-simd).
//
//   node scripts/bench-roofline.mjs [--rounds 7] [--json]
//
// Kernels (each iteration is unrolled; one multiply-add is one f32x4 op = 4 MACs):
//   regs-K      K independent accumulators acc = acc*c + d, operands in registers (the multiply
//               is on the dependency chain: plain SIMD needs 12+ accumulators to hide it).
//   fed-K       K accumulators acc += x*w, x a splat load shared by 2 weights in registers: the
//               multiply is off the chain, as in the conv kernels.
//   loads       12 independent v128.or of splat loads: vector loads per second.
//   conv1-mix   the inner loop of conv1Forward before issue 23: 8 loads (2 weight vectors, 4 32-bit
//               and 2 64-bit splats) per 6 multiply-adds: bound by loads, not by arithmetic.
//               (After issue 23 the kernel carries 2 of the splats over from the previous tap: 6
//               loads per 6. A loop-only copy of that here does not behave like the kernel, whose
//               rows are 5 taps long; its effect is measured on the kernel itself.)
//   conv2-mix   conv2Forward's inner loop: 2 weight vectors + 4 splats per 8 multiply-adds.
// The figure per kernel is the median over rounds of the best of a few repeats within a round.
// regs-14 and fed-12 are there to show the register wall: V8 allocates 15 XMM registers on x64
// (the AVX-512 ones are unused), so 12 accumulators plus operands spill and run at half speed.
// The lower bound per digit is the LeNet MAC count at the best regs/fed figure. On the issue-23
// machine (Zen 4 EPYC, ~4.3 GHz): relaxed 34.4 GMAC/s (2 f32x4 FMAs per cycle) = 12.1 µs per
// digit; plain ~29.5 here (conv2Forward itself reaches ~32) = 13-14 µs per digit.

import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { compileAssemblyScript, emitResult, median, parseArgs } from './bench-lib.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = Number(args.rounds ?? 7);
const json = Boolean(args.json);
const say = (line) => (json ? process.stderr : process.stdout).write(`${line}\n`);

/** MACs per LeNet-5 digit: conv1, conv2, fc1, fc2, fc3. */
const LAYER_MACS = {
  conv1: 28 * 28 * 6 * 25,
  conv2: 10 * 10 * 16 * 150,
  fc1: 48000,
  fc2: 10080,
  fc3: 840,
};
const DIGIT_MACS = Object.values(LAYER_MACS).reduce((a, b) => a + b, 0);

const SOURCE = `
const BUF: usize = 8192; // an L1-resident buffer of small values (written by init)

export function init(): void {
  for (let i: usize = 0; i < BUF + 256; i += 4) store<f32>(i, <f32>((i >> 2) % 7) * 0.01 + 0.5);
}

function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

${[4, 8, 10, 12, 14]
  .map(
    (k) => `
export function regs${k}(n: i32, cs: f32, ds: f32): f32 {
  const c = f32x4.splat(cs);
  const d = f32x4.splat(ds);
  ${Array.from({ length: k }, (_, i) => `let a${i} = f32x4.splat(<f32>${i + 1});`).join(' ')}
  for (let i = 0; i < n; i++) {
    ${Array.from({ length: k }, (_, i) => `a${i} = madd(a${i}, c, d);`).join(' ')}
  }
  let s = a0;
  ${Array.from({ length: k - 1 }, (_, i) => `s = f32x4.add(s, a${i + 1});`).join(' ')}
  return f32x4.extract_lane(s, 0);
}`,
  )
  .join('\n')}

${[8, 12]
  .map(
    (k) => `
/** ${k} accumulators, products off the chain: ${k / 2} splat loads, each times 2 weights in registers. */
export function fed${k}(n: i32, cs: f32, ds: f32): f32 {
  const c = f32x4.splat(cs);
  const d = f32x4.splat(ds);
  ${Array.from({ length: k }, (_, i) => `let a${i} = f32x4.splat(0);`).join(' ')}
  let p: usize = 0;
  for (let i = 0; i < n; i++) {
    let t: v128;
    ${Array.from({ length: k / 2 }, (_, i) => `t = v128.load32_splat(p, ${i * 4}); a${2 * i} = madd(t, c, a${2 * i}); a${2 * i + 1} = madd(t, d, a${2 * i + 1});`).join('\n    ')}
    p = (p + 16) & (BUF - 1);
  }
  let s = a0;
  ${Array.from({ length: k - 1 }, (_, i) => `s = f32x4.add(s, a${i + 1});`).join(' ')}
  return f32x4.extract_lane(s, 0);
}`,
  )
  .join('\n')}

/** n iterations of 12 splat loads into 12 independent ORs. */
export function loads(n: i32): i32 {
  ${Array.from({ length: 12 }, (_, i) => `let a${i} = i32x4.splat(${i});`).join(' ')}
  let p: usize = 0;
  for (let i = 0; i < n; i++) {
    ${Array.from({ length: 12 }, (_, i) => `a${i} = v128.or(a${i}, v128.load32_splat(p, ${i * 4 + 4}));`).join(' ')}
    p = (p + 16) & (BUF - 1);
  }
  let s = a0;
  ${Array.from({ length: 11 }, (_, i) => `s = v128.or(s, a${i + 1});`).join(' ')}
  return i32x4.extract_lane(s, 0);
}

/** conv1Forward's inner loop before issue 23 (the same loads and accumulators, one tap each). */
export function conv1mix(n: i32): f32 {
  let a00 = f32x4.splat(0); let a01 = a00; let a10 = a00; let a11 = a00; let b0 = a00; let b1 = a00;
  let p: usize = 0;
  let wk: usize = 4096;
  for (let i = 0; i < n; i++) {
    const wa = v128.load(wk);
    const wb = v128.load(wk, 16);
    a00 = madd(v128.load32_splat(p), wa, a00);
    a01 = madd(v128.load32_splat(p, 4), wa, a01);
    a10 = madd(v128.load32_splat(p, 128), wa, a10);
    a11 = madd(v128.load32_splat(p, 132), wa, a11);
    b0 = madd(v128.load64_splat(p), wb, b0);
    b1 = madd(v128.load64_splat(p, 128), wb, b1);
    p = (p + 4) & 2047;
    wk = 4096 + ((wk + 32) & 1023);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a00, a01), f32x4.add(a10, a11)), f32x4.add(b0, b1));
  return f32x4.extract_lane(s, 0);
}

/** conv2Forward's inner loop. */
export function conv2mix(n: i32): f32 {
  let a00 = f32x4.splat(0); let b00 = a00; let a01 = a00; let b01 = a00;
  let a10 = a00; let b10 = a00; let a11 = a00; let b11 = a00;
  let p: usize = 0;
  let wk: usize = 4096;
  for (let i = 0; i < n; i++) {
    const wa = v128.load(wk);
    const wb = v128.load(wk, 16);
    let t = v128.load32_splat(p);
    a00 = madd(t, wa, a00); b00 = madd(t, wb, b00);
    t = v128.load32_splat(p, 24);
    a01 = madd(t, wa, a01); b01 = madd(t, wb, b01);
    t = v128.load32_splat(p, 336);
    a10 = madd(t, wa, a10); b10 = madd(t, wb, b10);
    t = v128.load32_splat(p, 360);
    a11 = madd(t, wa, a11); b11 = madd(t, wb, b11);
    p = (p + 4) & 2047;
    wk = 4096 + ((wk + 64) & 2047);
  }
  let s = f32x4.add(f32x4.add(a00, b00), f32x4.add(a01, b01));
  s = f32x4.add(s, f32x4.add(f32x4.add(a10, b10), f32x4.add(a11, b11)));
  return f32x4.extract_lane(s, 0);
}
`;

/** The microbenchmark's module: build-wasm.mjs's flags, one page of memory. */
function compile(relaxed) {
  return compileAssemblyScript(SOURCE, { relaxed, extraArgs: ['--initialMemory', '1'] });
}

// name, export, iterations per call, multiply-adds (f32x4 ops) per iteration, loads per iteration
const KERNELS = [
  ['regs-4', 'regs4', 4, 0],
  ['regs-8', 'regs8', 8, 0],
  ['regs-10', 'regs10', 10, 0],
  ['regs-12', 'regs12', 12, 0],
  ['regs-14', 'regs14', 14, 0],
  ['fed-8', 'fed8', 8, 4],
  ['fed-12', 'fed12', 12, 6],
  ['conv1-mix', 'conv1mix', 6, 8],
  ['conv2-mix', 'conv2mix', 8, 6],
];
const N = 2_000_000;

const variants = [];
for (const relaxed of [false, true]) {
  const bytes = await compile(relaxed);
  if (!WebAssembly.validate(bytes)) {
    say(
      `relaxed SIMD: not validated by this engine (Node ${process.version}); run with --experimental-wasm-relaxed-simd on Node 20`,
    );
    continue;
  }
  const { instance } = await WebAssembly.instantiate(bytes, {});
  instance.exports.init();
  variants.push({ name: relaxed ? 'relaxed-simd' : 'simd', k: instance.exports });
}

const time = (fn) => {
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best / 1000;
};

const samples = {};
const load0 = loadavg()[0];
for (const { k } of variants) {
  // Warm-up: tier everything up.
  for (const [, fn] of KERNELS) k[fn](N, 0.999, 0.001);
  k.loads(N);
}
for (let r = 0; r < rounds; r++) {
  for (const { name, k } of variants) {
    const push = (key, v) => {
      samples[`${name} ${key}`] ??= [];
      samples[`${name} ${key}`].push(v);
    };
    push('loads', (12 * N) / time(() => k.loads(N)) / 1e9); // G loads/s
    for (const [label, fn, ops] of KERNELS) {
      push(label, (4 * ops * N) / time(() => k[fn](N, 0.999, 0.001)) / 1e9); // GMAC/s
    }
  }
}
const load1 = loadavg()[0];
const result = { node: process.version, rounds, loadavg: [load0, load1], kernels: {} };
say(
  `WebAssembly SIMD roofline, Node ${process.version}, one thread, median of ${rounds} rounds (1-min load ${load0.toFixed(2)} -> ${load1.toFixed(2)})`,
);
for (const { name } of variants) {
  const gl = median(samples[`${name} loads`]);
  say(`${name}:`);
  say(`  loads                     ${gl.toFixed(2)} G vector loads/s`);
  const entry = { loadsPerSecond: gl * 1e9, gmacs: {} };
  for (const [label, , ops, loadsPer] of KERNELS) {
    const g = median(samples[`${name} ${label}`]);
    entry.gmacs[label] = g;
    say(
      `  ${label.padEnd(24)}  ${g.toFixed(1).padStart(5)} GMAC/s = ${(g / 4).toFixed(2)} G f32x4 multiply-adds/s${loadsPer ? ` (${loadsPer} loads per ${ops})` : ''}`,
    );
  }
  const peak = Math.max(
    ...KERNELS.filter(([l]) => /^(regs|fed)/.test(l)).map(([l]) => entry.gmacs[l]),
  );
  entry.peakGmacs = peak;
  entry.digitLowerBoundMicroseconds = DIGIT_MACS / (peak * 1e3);
  say(
    `  lower bound for one digit (${DIGIT_MACS} MACs at ${peak.toFixed(1)} GMAC/s): ${entry.digitLowerBoundMicroseconds.toFixed(2)} µs` +
      ` (conv1 ${(LAYER_MACS.conv1 / (peak * 1e3)).toFixed(2)}, conv2 ${(LAYER_MACS.conv2 / (peak * 1e3)).toFixed(2)}, fc1 ${(LAYER_MACS.fc1 / (peak * 1e3)).toFixed(2)})`,
  );
  result.kernels[name] = entry;
}
if (json) emitResult(result);
