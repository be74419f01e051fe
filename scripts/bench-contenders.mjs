// The table of contenders `npm run bench` runs (scripts/bench.mjs runs, interleaves and
// aggregates them). A contender is one fresh process per round; a row of the results table is a
// figure read from that process's result. Adding a row is adding an entry here:
//
//   {
//     id: 'lenet-classify',                   // unique; the key of its results in bench.json
//     title: 'lenet-mnist classifyInto',      // names its rows when it fails or is missing
//     metrics: ['batch'],                     // the tables it fills (also for those rows)
//     cmd: lenetWorker('classify', ['--batch=1000']),   // [executable, argv]
//     rows: (r) => [{ metric: 'batch', label: '…', value: r.batchImagesPerSecond }],
//   }
//
// Optional: `parse(stdout)` when the process prints no `BENCH_RESULT` line, `needsSetup` when it
// reads the setup step's files, `tables` to describe new tables, `timeoutMs` (15 minutes). Row fields: `metric` (a key of
// `metrics()` below, or of the contender's `tables: { key: { title, unit, higherIsBetter } }`),
// `label`, `value`, and optionally `baseline: true` (the lenet-mnist row every ratio of that
// table divides by), `best: 'PyTorch'` (a thread-count row the "best threads" summary picks
// from), `peer` ('lenet', 'torch', 'ort', 'tfjs': the summary tables) and `noRatio` (a row
// that is no contender, only another view of one).
// A worker that finds the API it measures missing from the build answers
// `{ missing: 'what is missing' }`; its rows then read "not in this build" instead of failing.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, WORK_DIR } from './bench-lib.mjs';

const script = (name) => join(ROOT, 'scripts', name);
/** Node 20 runs the fused module's plain-SIMD build unless relaxed SIMD is switched on. */
export const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

/** The tables, in print order. `job` is whole-process seconds: lower is better. */
export function metrics({ epochs, mainJob }) {
  return {
    job: {
      title: mainJob
        ? `Main job (${epochs} epochs, test evaluation after each), whole process, s`
        : `Train ${epochs} epoch${epochs > 1 ? 's' : ''}, whole process (reference recipe), s`,
      unit: 's',
      higherIsBetter: false,
    },
    train: {
      title: 'Training (batch 64, Adam), samples/s',
      unit: 'samples/s',
      higherIsBetter: true,
    },
    batch: {
      title: 'Inference, 1,000 test digits in one call, images/s',
      unit: 'images/s',
      higherIsBetter: true,
    },
    single: { title: 'Inference, one digit, latency ms', unit: 'ms', higherIsBetter: false },
    startup: {
      title: 'Startup in Node: import to the first prediction (pretrained model), ms',
      unit: 'ms',
      higherIsBetter: false,
    },
    // Only for the "not in this build" row: each variant has its own table (`variant:NAME`).
    variants: {
      title: 'Training, every model variant the factories build',
      unit: 'samples/s',
      higherIsBetter: true,
    },
  };
}

/** The lenet-mnist worker (bench-lenet.mjs), optionally under Node flags or another Node. */
function lenetWorker(task, args, nodeFlags = [], node = process.execPath) {
  return [node, [...nodeFlags, script('bench-lenet.mjs'), task, ...args]];
}

/** This Node's major version, and Node 22's when the harness installed it (`peers.node22`). */
const NODE_MAJOR = `Node ${process.versions.node.split('.')[0]}`;

const threadsLabel = (n) => `${n} thread${n > 1 ? 's' : ''}`;
/** Issue 23's steadiness table: a fresh predictor's first 10 `predictBatch` calls. */
const FIRST_TEN = {
  firstTen: {
    title:
      "predictBatch of 1,000 raw digits: median of a fresh predictor's first 10 calls over the steady median (goal ≤ 1.15), ×",
    unit: '×',
    higherIsBetter: false,
  },
};
const firstTenRow = (name, r) => ({
  metric: 'firstTen',
  label: `${name} → ${r.path}${r.variant ? ` (${r.variant})` : ''}, 28x28 digits`,
  value: r.input28?.firstTenVsSteady,
});

/** Training images of the whole-process rows in a `--quick` run (100 batches of 64). */
const QUICK_JOB_IMAGES = 6400;
/** A whole job may take long on a busy machine (PyTorch's 2 threads most of all). */
const JOB_TIMEOUT_MS = 60 * 60_000;

/**
 * The whole-process rows: lenet-mnist's CLI as a user runs it, against the PyTorch script doing
 * the same job. `ctx.mainJob` runs `npm start`'s command (5 epochs, the last at a tenth of the
 * learning rate, --verify) instead of `train --epochs N` with the reference's constant rate.
 */
function jobContenders(ctx) {
  const { epochs, mainJob, peers, dist, jobDir, quick } = ctx;
  const cli = join(dist, 'cli.js');
  // A smoke run trains on the first 6,400 images only; the test set is still evaluated whole.
  const limit = quick ? ['--limit', String(QUICK_JOB_IMAGES)] : [];
  const quickNote = quick ? ` (--quick: ${QUICK_JOB_IMAGES.toLocaleString('en-US')} images)` : '';
  const lenetArgs = mainJob
    ? ['train', '--verify', '--out', join(jobDir, 'lenet.weights'), '--json', ...limit]
    : [
        'train',
        '--epochs',
        String(epochs),
        '--schedule',
        'constant',
        '--out',
        join(jobDir, 'lenet.weights'),
        '--json',
        ...limit,
      ];
  const list = [
    {
      id: 'lenet-job',
      title: 'lenet-mnist CLI',
      timeoutMs: JOB_TIMEOUT_MS,
      metrics: ['job'],
      cmd: [process.execPath, [cli, ...lenetArgs]],
      parse: parseCliJson,
      rows: (r) => [
        {
          metric: 'job',
          label: `lenet-mnist CLI \`lenet-mnist ${lenetArgs.slice(0, mainJob ? 2 : 5).join(' ')}\` → ${r.engine}${r.threads ? `, ${threadsLabel(r.threads)}` : ''}${quickNote}`,
          value: r.wallSeconds,
          baseline: true,
          peer: 'lenet',
        },
      ],
    },
  ];
  if (peers.torch) {
    for (const threads of [1, 2]) {
      list.push({
        id: `torch-job-t${threads}`,
        title: `PyTorch script, ${threadsLabel(threads)}`,
        timeoutMs: JOB_TIMEOUT_MS,
        metrics: ['job'],
        cmd: [
          peers.torch.python,
          [
            script('torch-main-job.py'),
            `--epochs=${epochs}`,
            `--threads=${threads}`,
            `--out=${join(jobDir, `torch-t${threads}.pt`)}`,
            ...(quick ? [`--limit=${QUICK_JOB_IMAGES}`] : []),
          ],
        ],
        rows: (r) => [
          {
            metric: 'job',
            label: `PyTorch ${r.torch} CPU, ${threadsLabel(r.threads)} (scripts/torch-main-job.py)${quickNote}`,
            value: r.wallSeconds,
            best: 'PyTorch',
            peer: 'torch',
          },
        ],
      });
    }
  }
  return list;
}

/** `lenet-mnist train --json`: the start, end and verify records; no BENCH_RESULT line. */
function parseCliJson(stdout) {
  const records = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const start = records.find((r) => r.type === 'start');
  const end = records.find((r) => r.type === 'end');
  if (!start || !end) return undefined;
  return {
    engine: start.engine,
    engineReason: start.engineReason,
    threads: start.threads,
    epochs: records.filter((r) => r.type === 'epoch').map(({ type, ...e }) => e),
    trainSeconds: end.seconds,
    samplesPerSecond: end.samplesPerSecond,
    testAccuracy: end.testAccuracy,
    verify: records.find((r) => r.type === 'verify'),
  };
}

/** In-process throughput (one train() call per window) and inference through the public API. */
function apiContenders(ctx) {
  const { size, peers } = ctx;
  const trainArgs = (fastPath, batches, warmup) => [
    `--fast-path=${fastPath}`,
    `--batches=${batches}`,
    `--warmup=${warmup}`,
    `--windows=${size.windows}`,
  ];
  const inferArgs = [
    `--batch=${size.inferBatch}`,
    `--reps=${size.inferReps}`,
    `--single=${size.singles}`,
    `--weights=${join(WORK_DIR, 'weights-infer.f32')}`,
  ];
  // The kernel build and, when train() used more than one, its threads.
  const variantOf = (r) =>
    `${r.variant ? ` (${r.variant})` : ''}${r.threads > 1 ? `, ${threadsLabel(r.threads)}` : ''}`;
  const list = [
    {
      id: 'lenet-train',
      title: "lenet-mnist train(), fastPath 'auto'",
      metrics: ['train'],
      cmd: lenetWorker('train', trainArgs('auto', size.trainBatches, size.trainWarmup)),
      rows: (r) => [
        {
          metric: 'train',
          label: `lenet-mnist train(), fastPath 'auto' → ${r.path}${variantOf(r)}`,
          value: r.samplesPerSecond,
          baseline: true,
          peer: 'lenet',
        },
      ],
    },
    {
      id: 'lenet-train-relaxed',
      title: `lenet-mnist train(), node ${RELAXED_FLAG}`,
      metrics: ['train'],
      cmd: lenetWorker('train', trainArgs('auto', size.trainBatches, size.trainWarmup), [
        RELAXED_FLAG,
      ]),
      rows: (r) => [
        {
          metric: 'train',
          label: `lenet-mnist train(), fastPath 'auto' → ${r.path}${variantOf(r)}, node ${RELAXED_FLAG}`,
          value: r.samplesPerSecond,
        },
      ],
    },
    {
      // Two threads asked for explicitly: the default row shows what train() picks by itself.
      id: 'lenet-train-t2',
      title: "lenet-mnist train(), fastPath 'auto', threads: 2",
      metrics: ['train'],
      cmd: lenetWorker('train', [
        ...trainArgs('auto', size.trainBatches, size.trainWarmup),
        '--threads=2',
      ]),
      rows: (r) => [
        {
          metric: 'train',
          label: `lenet-mnist train(), fastPath 'auto', threads: 2 → ${r.path}${variantOf(r)}`,
          value: r.samplesPerSecond,
        },
      ],
    },
    {
      // Issue 23: train() samples/s on 1 and 2 threads.
      id: 'lenet-train-t1',
      title: "lenet-mnist train(), fastPath 'auto', threads: 1",
      metrics: ['train'],
      cmd: lenetWorker('train', [
        ...trainArgs('auto', size.trainBatches, size.trainWarmup),
        '--threads=1',
      ]),
      rows: (r) => [
        {
          metric: 'train',
          label: `lenet-mnist train(), fastPath 'auto', threads: 1 → ${r.path}${variantOf(r)}, ${NODE_MAJOR}`,
          value: r.samplesPerSecond,
        },
      ],
    },
    ...(peers.node22
      ? [1, 2].map((threads) => ({
          id: `lenet-train-t${threads}-node22`,
          title: `lenet-mnist train(), threads: ${threads}, Node 22`,
          metrics: ['train'],
          cmd: lenetWorker(
            'train',
            [...trainArgs('auto', size.trainBatches, size.trainWarmup), `--threads=${threads}`],
            [],
            peers.node22,
          ),
          rows: (r) => [
            {
              metric: 'train',
              label: `lenet-mnist train(), fastPath 'auto', threads: ${threads} → ${r.path}${variantOf(r)}, Node 22`,
              value: r.samplesPerSecond,
            },
          ],
        }))
      : []),
    {
      id: 'lenet-train-tfjs',
      title: "lenet-mnist train(), fastPath 'off'",
      metrics: ['train'],
      cmd: lenetWorker('train', trainArgs('off', size.tfjsBatches, size.tfjsWarmup)),
      rows: (r) => [
        {
          metric: 'train',
          label: `lenet-mnist train(), fastPath 'off' → ${r.path} ops on ${r.backend}`,
          value: r.samplesPerSecond,
        },
      ],
    },
  ];
  for (const fastPath of ['auto', 'off']) {
    const auto = fastPath === 'auto';
    list.push({
      id: auto ? 'lenet-infer' : 'lenet-infer-tfjs',
      title: `lenet-mnist predictor, fastPath '${fastPath}'`,
      metrics: ['batch', 'single'],
      ...(auto ? { tables: FIRST_TEN } : {}),
      cmd: lenetWorker('infer', [`--fast-path=${fastPath}`, ...inferArgs]),
      rows: (r) => {
        const name = `lenet-mnist predictor, fastPath '${fastPath}' → ${r.path}`;
        // The 28x28 rows are the issue's definition (raw digits, resize and normalisation
        // included) and the baselines; the 32x32 rows start from prepared images, as the peers.
        return [
          {
            metric: 'batch',
            label: `${name}, \`predictBatch\` of 28x28 digits (+ resize)`,
            value: r.input28.batchImagesPerSecond,
            baseline: auto,
            peer: auto ? 'lenet' : undefined,
          },
          {
            metric: 'batch',
            label: `${name}, \`predictBatch\` of 32x32 prepared digits`,
            value: r.input32.batchImagesPerSecond,
          },
          {
            metric: 'single',
            label: `${name}, \`predict\` of a 28x28 digit (+ resize)`,
            value: r.input28.singleMs,
            baseline: auto,
            peer: auto ? 'lenet' : undefined,
          },
          {
            metric: 'single',
            label: `${name}, \`predict\` of a 32x32 prepared digit`,
            value: r.input32.singleMs,
          },
          ...(auto && r.input28.firstTenVsSteady !== undefined
            ? [
                {
                  ...firstTenRow(`lenet-mnist predictor, threads 'auto', ${NODE_MAJOR}`, r),
                  baseline: true,
                },
              ]
            : []),
        ];
      },
    });
  }
  // Issue 23: the predictor on one thread, and under Node 22 (relaxed SIMD on by default).
  const inferRows = (name, r) => [
    {
      metric: 'batch',
      label: `${name} → ${r.path}${r.variant ? ` (${r.variant})` : ''}, \`predictBatch\` of 28x28 digits (+ resize)`,
      value: r.input28.batchImagesPerSecond,
    },
    firstTenRow(name, r),
    {
      metric: 'single',
      label: `${name} → ${r.path}, \`predict\` of a 28x28 digit (+ resize)`,
      value: r.input28.singleMs,
    },
  ];
  list.push({
    id: 'lenet-infer-t1',
    title: 'lenet-mnist predictor, threads: 1',
    metrics: ['batch', 'single'],
    tables: FIRST_TEN,
    cmd: lenetWorker('infer', ['--threads=1', ...inferArgs]),
    rows: (r) => inferRows(`lenet-mnist predictor, threads: 1, ${NODE_MAJOR}`, r),
  });
  if (peers.node22) {
    list.push({
      id: 'lenet-infer-node22',
      title: 'lenet-mnist predictor, Node 22',
      metrics: ['batch', 'single'],
      tables: FIRST_TEN,
      cmd: lenetWorker('infer', inferArgs, [], peers.node22),
      rows: (r) => inferRows("lenet-mnist predictor, threads 'auto', Node 22", r),
    });
  }
  list.push({
    id: 'lenet-classify',
    title: 'lenet-mnist predictor.classifyInto (zero-allocation batch API)',
    metrics: ['batch'],
    cmd: lenetWorker('classify', inferArgs),
    rows: (r) => [
      {
        metric: 'batch',
        label: `lenet-mnist predictor.classifyInto → ${r.path}, 28x28 digits (+ resize) in one Uint8Array, labels and probabilities into typed arrays`,
        value: r.batchImagesPerSecond,
      },
    ],
  });
  list.push({
    id: 'lenet-startup',
    title: 'lenet-mnist startup',
    metrics: ['startup'],
    cmd: lenetWorker('startup', []),
    rows: (r) => [
      {
        metric: 'startup',
        label: `lenet-mnist: \`import\`, loadPretrained, createPredictor, predict of one digit → ${r.path}`,
        value: r.importToFirstPredictionMs,
        baseline: true,
        peer: 'lenet',
      },
      {
        metric: 'startup',
        label: 'the same from the start of the Node process',
        value: r.sinceProcessStartMs,
        noRatio: true,
      },
    ],
  });
  if (peers.torch) {
    const py = peers.torch.python;
    const data = `--data-dir=${WORK_DIR}`;
    for (const threads of [1, 2]) {
      list.push({
        id: `torch-train-t${threads}`,
        title: `PyTorch, ${threadsLabel(threads)}`,
        metrics: ['train'],
        cmd: [
          py,
          [
            script('bench-torch.py'),
            'train',
            data,
            `--threads=${threads}`,
            `--batches=${size.trainBatches}`,
            `--warmup=${size.trainWarmup}`,
            `--windows=${size.windows}`,
            `--weights=${join(WORK_DIR, 'weights-seed1.f32')}`,
          ],
        ],
        rows: (r) => [
          {
            metric: 'train',
            label: `PyTorch ${r.torch} CPU, ${threadsLabel(r.threads)}`,
            value: r.samplesPerSecond,
            best: 'PyTorch',
            peer: 'torch',
          },
        ],
      });
      list.push({
        id: `torch-infer-t${threads}`,
        title: `PyTorch, ${threadsLabel(threads)}, no_grad`,
        metrics: ['batch', 'single'],
        cmd: [
          py,
          [
            script('bench-torch.py'),
            'infer',
            data,
            `--threads=${threads}`,
            `--batch=${size.inferBatch}`,
            `--reps=${size.inferReps}`,
            `--single=${size.singles}`,
            `--weights=${join(WORK_DIR, 'weights-infer.f32')}`,
          ],
        ],
        rows: (r) => {
          const label = `PyTorch ${r.torch} CPU, ${threadsLabel(r.threads)}, no_grad, forward + softmax of prepared tensors`;
          return [
            {
              metric: 'batch',
              label,
              value: r.batchImagesPerSecond,
              best: 'PyTorch',
              peer: 'torch',
            },
            { metric: 'single', label, value: r.singleMs, best: 'PyTorch', peer: 'torch' },
          ];
        },
      });
    }
  }
  if (peers.ort && peers.torch) {
    list.push({
      id: 'ort-infer',
      title: 'onnxruntime-web',
      metrics: ['batch', 'single'],
      cmd: [
        process.execPath,
        [
          script('bench-ort.mjs'),
          `--model=${join(WORK_DIR, 'lenet.onnx')}`,
          `--batch=${size.inferBatch}`,
          `--reps=${size.inferReps}`,
          `--single=${size.singles}`,
        ],
      ],
      rows: (r) => {
        const label = `onnxruntime-web ${r.ort} (Node, WASM, ${threadsLabel(r.threads)}), session.run of prepared tensors`;
        return [
          { metric: 'batch', label, value: r.batchImagesPerSecond, peer: 'ort' },
          { metric: 'single', label, value: r.singleMs, peer: 'ort' },
        ];
      },
    });
  }
  if (peers.ortNode) {
    const nodes = [[NODE_MAJOR, process.execPath]];
    if (peers.node22) nodes.push(['Node 22', peers.node22]);
    for (const [nodeName, node] of nodes) {
      for (const threads of [1, 2]) {
        list.push({
          id: `ort-node-t${threads}${node === process.execPath ? '' : '-node22'}`,
          title: `onnxruntime-node, ${threadsLabel(threads)}, ${nodeName}`,
          metrics: ['batch', 'single'],
          cmd: [
            node,
            [
              script('bench-ort-node.mjs'),
              `--peers=${peers.ortNode}`,
              `--model=${join(WORK_DIR, 'lenet-mnist.onnx')}`,
              `--threads=${threads}`,
              `--batch=${size.inferBatch}`,
              `--reps=${size.inferReps}`,
              `--single=${size.singles}`,
            ],
          ],
          rows: (r) => {
            const label = `onnxruntime-node ${r.ort} (native MLAS, ${threadsLabel(r.threads)}, ${nodeName}), session.run of prepared floats to logits (\`lenet-mnist export --format onnx\`)`;
            return [
              {
                metric: 'batch',
                label,
                value: r.batchImagesPerSecond,
                best: 'onnxruntime-node',
                peer: 'ortNode',
              },
              {
                metric: 'single',
                label,
                value: r.singleMs,
                best: 'onnxruntime-node',
                peer: 'ortNode',
              },
            ];
          },
        });
      }
    }
  }
  // They read the files the harness's setup step writes (prepared data, weights, ONNX model).
  return list.map((c) => ({ ...c, needsSetup: true }));
}

/**
 * The variants scripts/bench-variants.mjs knows (its VARIANTS; bench-variants-torch.py has their
 * PyTorch twins). Listed here because importing that script runs its own harness.
 */
export const VARIANT_NAMES = [
  'avg',
  'tanh',
  'conv2act',
  'in28',
  'classic',
  'in20',
  'mlp',
  'mlpTanh',
];

/**
 * Training speed of each model variant the factories build (issue 14: every model on the fused
 * path, at least 5x its tfjs path and 1.5x PyTorch on the same model), through the workers of
 * scripts/bench-variants.mjs (train() on the build, `engine` in its result) and
 * scripts/bench-variants-torch.py. One table per variant; opt-in (`--variants`), as it is long.
 */
function variantContenders(ctx) {
  const { size, peers, variants } = ctx;
  const lenet = script('bench-variants.mjs');
  if (!existsSync(lenet)) {
    return [
      {
        id: 'lenet-variants',
        title: 'lenet-mnist model variants',
        metrics: ['variants'],
        missing: 'scripts/bench-variants.mjs',
        rows: () => [],
      },
    ];
  }
  const torch = script('bench-variants-torch.py');
  const list = [];
  for (const v of variants) {
    const metric = `variant:${v}`;
    const tables = {
      [metric]: {
        title: `Training, model variant '${v}' (batch 64, Adam), samples/s`,
        unit: 'samples/s',
        higherIsBetter: true,
        variant: v,
      },
    };
    const windows = ['--warmup', String(size.trainWarmup), '--windows', String(size.windows)];
    for (const fastPath of ['auto', 'off']) {
      const batches = fastPath === 'auto' ? size.variantBatches : size.tfjsBatches;
      list.push({
        id: `variant-${v}-${fastPath === 'auto' ? 'lenet' : 'tfjs'}`,
        title: `lenet-mnist '${v}', fastPath '${fastPath}'`,
        metrics: [metric],
        tables,
        cmd: [
          process.execPath,
          [
            lenet,
            'worker',
            '--variant',
            v,
            '--fast-path',
            fastPath,
            '--batches',
            String(batches),
            ...windows,
          ],
        ],
        rows: (r) => [
          {
            metric,
            label: `lenet-mnist train() '${v}', fastPath '${fastPath}' → ${r.engine?.kind ?? '?'}${r.engine?.kernels ? ` (${r.engine.kernels})` : ''}`,
            value: r.samplesPerSecond,
            baseline: fastPath === 'auto',
            peer: fastPath === 'auto' ? 'lenet' : 'tfjs',
          },
        ],
      });
    }
    if (peers.torch && existsSync(torch)) {
      for (const threads of [1, 2]) {
        list.push({
          id: `variant-${v}-torch-t${threads}`,
          title: `PyTorch '${v}', ${threadsLabel(threads)}`,
          metrics: [metric],
          tables,
          cmd: [
            peers.torch.python,
            [
              torch,
              '--variant',
              v,
              '--threads',
              String(threads),
              '--batches',
              String(size.variantBatches),
              ...windows,
            ],
          ],
          rows: (r) => [
            {
              metric,
              label: `PyTorch ${r.torch} CPU '${v}', ${threadsLabel(r.threads)}`,
              value: r.samplesPerSecond,
              best: 'PyTorch',
              peer: 'torch',
            },
          ],
        });
      }
    }
  }
  return list;
}

/**
 * Every contender of a run. `ctx`: `{ peers, size, epochs, mainJob, quick, only, variants, dist,
 * jobDir }`; `only` (a set of metric keys, or undefined for all) leaves out contenders that fill
 * none of them; `variants` (names, or empty) adds the per-variant tables.
 */
export function contenders(ctx) {
  const list = [
    ...jobContenders(ctx),
    ...(ctx.mainJob ? [] : apiContenders(ctx)),
    ...(ctx.variants.length ? variantContenders(ctx) : []),
  ];
  const wanted = (m) => ctx.only.has(m.startsWith('variant:') ? 'variants' : m);
  return ctx.only ? list.filter((c) => c.metrics.some(wanted)) : list;
}
