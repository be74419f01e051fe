#!/usr/bin/python3
"""Loads models exported by lenet-mnist into PyTorch and compares logits (see
scripts/check-torch-export.ts, which writes the files and runs this). Usage:

    /usr/bin/python3 scripts/check-torch-export.py DIR

DIR holds, for NAME in lenet and mlp: NAME.pt (exportPyTorchStateDict), NAME.safetensors,
NAME.onnx, NAME.input.f32 (the preprocessed digits, [N, 1, S, S]) and NAME.logits.f32
(lenet-mnist's logits, [N, 10]). Exits 1 if any logit differs by 1e-4 or more.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# The reference tutorial's LeNet, as in the README.
class LeNet(nn.Module):
    def __init__(self):
        super(LeNet, self).__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.relu = nn.ReLU()
        self.maxpool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.maxpool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = self.relu(x)
        x = self.maxpool1(x)
        x = self.conv2(x)
        x = self.maxpool2(x)
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


# createMlp()'s default MLP, as in the README.
class MLP(nn.Module):
    def __init__(self, hidden=(256, 128)):
        super(MLP, self).__init__()
        self.fc1 = nn.Linear(28 * 28, hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.fc3 = nn.Linear(hidden[1], 10)

    def forward(self, x):
        x = x.view(-1, 28 * 28)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        begin, end = info['data_offsets']
        arr = np.frombuffer(data, dtype='<f4', count=(end - begin) // 4, offset=8 + n + begin)
        out[name] = torch.from_numpy(arr.reshape(info['shape']).copy())
    return out


def main(folder):
    worst = 0.0
    for name, cls, size in [('lenet', LeNet, 32), ('mlp', MLP, 28)]:
        expected = np.fromfile(os.path.join(folder, name + '.logits.f32'), dtype='<f4').reshape(-1, 10)
        x = torch.from_numpy(np.fromfile(os.path.join(folder, name + '.input.f32'), dtype='<f4')).reshape(-1, 1, size, size)
        for fmt in ['pt', 'pt weights_only', 'safetensors']:
            model = cls()
            path = os.path.join(folder, name + '.' + fmt.split(' ')[0])
            if fmt == 'pt':
                state = torch.load(path)
            elif fmt == 'pt weights_only':
                state = torch.load(path, weights_only=True)
            else:
                state = read_safetensors(path)
            model.load_state_dict(state)  # strict: every key, every shape
            model.eval()
            with torch.no_grad():
                logits = model(x).numpy()
            diff = float(np.abs(logits - expected).max())
            worst = max(worst, diff)
            print('%-5s %-16s %d digits: max |logit difference| = %.2e' % (name, fmt, x.shape[0], diff))
        try:
            import onnx
            onnx.checker.check_model(onnx.load(os.path.join(folder, name + '.onnx')), full_check=True)
            print('%-5s onnx             onnx %s checker (full_check): valid' % (name, onnx.__version__))
        except ImportError:
            print('%-5s onnx             python3-onnx not installed: not checked' % name)
    print('torch', torch.__version__)
    if worst >= 1e-4:
        print('FAIL: a logit differs by %.2e' % worst)
        sys.exit(1)
    print('OK')


if __name__ == '__main__':
    main(sys.argv[1])
