import type { Model } from '../engine/types.js';
import { InteropFormatError } from './errors.js';
import {
  modelFromStateDict,
  type StateDictImportOptions,
  type StateDictTensor,
  torchStateDict,
} from './layout.js';
import {
  PickleWriter,
  PyDict,
  PyGlobal,
  PyOpaque,
  PyTuple,
  type PyValue,
  readPickle,
} from './pickle.js';
import { looksLikeZip, readZip, writeZip } from './zip.js';

/** PyTorch's typed storages: dtype and bytes per element. */
const STORAGES: Record<string, [dtype: string, bytes: number]> = {
  FloatStorage: ['float32', 4],
  DoubleStorage: ['float64', 8],
  HalfStorage: ['float16', 2],
  BFloat16Storage: ['bfloat16', 2],
  LongStorage: ['int64', 8],
  IntStorage: ['int32', 4],
  ShortStorage: ['int16', 2],
  CharStorage: ['int8', 1],
  ByteStorage: ['uint8', 1],
  BoolStorage: ['bool', 1],
};

/** A storage a tensor points into; `bytes` is filled from the zip entry or the legacy tail. */
interface Storage {
  key: string;
  dtype: string;
  elementBytes: number;
  numel: number;
  bytes: Uint8Array | undefined;
}

/** A tensor before its storage's bytes are known. */
interface TensorRef {
  storage: Storage;
  offset: number;
  shape: number[];
  stride: number[];
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const ARCHIVE = 'archive';

function ints(v: PyValue, what: string, fail: (msg: string) => never): number[] {
  if (
    !(v instanceof PyTuple) ||
    v.items.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 0)
  )
    return fail(`${what} is not a tuple of non-negative integers`);
  return v.items as number[];
}

/**
 * The globals a `state_dict` pickle may name: OrderedDict, the tensor rebuild functions and the
 * storage types. Nothing else is ever looked up.
 */
function stateDictGlobals(fail: (msg: string) => never) {
  const globals = new Map<string, ((args: PyValue[]) => PyValue) | undefined>();
  globals.set('collections.OrderedDict', (args) => {
    if (args.length !== 0) fail('OrderedDict with arguments');
    return new PyDict();
  });
  const rebuild = (args: PyValue[]): PyValue => {
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    if (args.length < 4 || args.length > 7)
      fail(`_rebuild_tensor_v2 with ${args.length} arguments`);
    const [storage, offset, shape, stride] = args;
    if (!(storage instanceof PyOpaque) || storage.kind !== 'storage')
      fail('_rebuild_tensor_v2 without a storage');
    if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0)
      fail('_rebuild_tensor_v2: bad storage offset');
    const s = ints(shape as PyValue, 'tensor size', fail);
    const st = ints(stride as PyValue, 'tensor stride', fail);
    if (s.length !== st.length) fail('tensor size and stride differ in rank');
    const ref: TensorRef = {
      storage: (storage as PyOpaque<Storage>).value,
      offset: offset as number,
      shape: s,
      stride: st,
    };
    return new PyOpaque('tensor', ref);
  };
  globals.set('torch._utils._rebuild_tensor_v2', rebuild);
  globals.set('torch._utils._rebuild_parameter', (args) => {
    // _rebuild_parameter(data, requires_grad, backward_hooks)
    const [data] = args;
    if (!(data instanceof PyOpaque) || data.kind !== 'tensor')
      fail('_rebuild_parameter without a tensor');
    return data as PyValue;
  });
  for (const name of Object.keys(STORAGES)) globals.set(`torch.${name}`, undefined);
  return globals;
}

/** Copies a (possibly strided) float32 tensor out of its storage, with bounds checks. */
function materialise(name: string, ref: TensorRef, fail: (msg: string) => never): StateDictTensor {
  const { storage, offset, shape, stride } = ref;
  const count = shape.reduce((a, b) => a * b, 1);
  if (storage.bytes === undefined) fail(`'${name}': storage ${storage.key} has no data`);
  const bytes = storage.bytes as Uint8Array;
  const available = Math.floor(bytes.length / storage.elementBytes);
  if (count > available) {
    fail(`'${name}': shape [${shape}] has ${count} elements, its storage only ${available}`);
  }
  if (count > 0) {
    const last = offset + shape.reduce((sum, d, i) => sum + (d - 1) * (stride[i] as number), 0);
    if (last >= available) {
      fail(
        `'${name}': shape [${shape}] with strides [${stride}] at offset ${offset} reads past its storage of ${available} elements`,
      );
    }
  }
  if (storage.dtype !== 'float32') return { name, dtype: storage.dtype, shape, data: undefined };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(count);
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    let e = offset;
    for (let d = 0; d < shape.length; d++) e += (index[d] as number) * (stride[d] as number);
    data[i] = view.getFloat32(e * 4, true);
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d] = (index[d] as number) + 1;
      if ((index[d] as number) < (shape[d] as number)) break;
      index[d] = 0;
    }
  }
  return { name, dtype: 'float32', shape, data };
}

/**
 * Reads the tensors of a PyTorch `state_dict` file (`torch.save(model.state_dict(), path)`):
 * the zip format of PyTorch 1.6 and later, or the legacy format before it
 * (`_use_new_zipfile_serialization=False`). The pickle inside is read by a restricted reader
 * that knows only `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` /
 * `_rebuild_parameter` and the storage types; any other global or an object-building opcode is
 * refused before anything happens, and nothing is ever executed.
 *
 * @param bytes - The file's bytes.
 * @param source - A name for the file in error messages. Default: `'state_dict'`.
 * @returns The tensors in file order, in PyTorch's layouts; `data` only for float32 tensors.
 * @throws `UnsafePickleError` for a pickle that asks for anything else;
 *   `InteropFormatError` for a truncated or corrupt file, or one that is not a flat
 *   `state_dict` of tensors.
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { readPyTorchStateDict } from 'lenet-mnist';
 * for (const t of readPyTorchStateDict(await readFile('mymodel.pt'), 'mymodel.pt'))
 *   console.log(t.name, t.dtype, t.shape); // conv1.weight float32 [6, 1, 5, 5] ...
 * ```
 */
export function readPyTorchStateDict(bytes: Uint8Array, source = 'state_dict'): StateDictTensor[] {
  const fail = (msg: string): never => {
    throw new InteropFormatError(`${source}: ${msg}`);
  };
  const globals = stateDictGlobals(fail);
  const storages = new Map<string, Storage>();
  const storageFrom = (pid: PyValue, resolve: (key: string) => Uint8Array | undefined): PyValue => {
    if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length < 5)
      return fail('persistent id is not a storage reference');
    const [, type, key, , numel, view] = pid.items;
    if (!(type instanceof PyGlobal)) return fail('storage type is not a storage class');
    const kind = STORAGES[type.name.replace(/^torch\./, '')];
    if (kind === undefined) return fail(`unknown storage type ${type.name}`);
    if (typeof key !== 'string') return fail('storage key is not a string');
    if (typeof numel !== 'number' || !Number.isInteger(numel) || numel < 0)
      return fail('bad storage size');
    if (view !== undefined && view !== null) return fail('storage views are not supported');
    let storage = storages.get(key);
    if (storage === undefined) {
      storage = { key, dtype: kind[0], elementBytes: kind[1], numel, bytes: resolve(key) };
      storages.set(key, storage);
    }
    return new PyOpaque('storage', storage);
  };
  const toTensors = (value: PyValue): StateDictTensor[] => {
    if (!(value instanceof PyDict)) return fail('the pickle holds no dict: not a state_dict');
    return [...value.entries].map(([name, t]) => {
      if (typeof name !== 'string') return fail(`key ${name} is not a string`);
      if (!(t instanceof PyOpaque) || t.kind !== 'tensor')
        return fail(
          `'${name}' is not a tensor: not a flat state_dict (a checkpoint? save model.state_dict())`,
        );
      return materialise(name, t.value as TensorRef, fail);
    });
  };

  if (looksLikeZip(bytes)) {
    const entries = readZip(bytes, source);
    const pkl = [...entries.keys()].find((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n));
    if (pkl === undefined) return fail('a zip without data.pkl: not a PyTorch file');
    const prefix = pkl.slice(0, -'data.pkl'.length);
    const { value } = readPickle(entries.get(pkl) as Uint8Array, {
      globals,
      source: `${source} (${pkl})`,
      persistentLoad: (pid) =>
        storageFrom(pid, (key) => {
          const data = entries.get(`${prefix}data/${key}`);
          if (data === undefined) fail(`storage ${key} has no entry ${prefix}data/${key}`);
          return data;
        }),
    });
    return toTensors(value);
  }

  // Legacy format: magic number, protocol version and system info pickles, the object, the
  // list of storage keys, then each storage as an int64 element count and its raw bytes.
  const plain = { globals: new Map(), source };
  if (bytes.length === 0 || bytes[0] !== 0x80)
    fail('not a PyTorch file (neither a zip nor a pickle)');
  const magic = readPickle(bytes, plain, 0);
  if (magic.value !== LEGACY_MAGIC)
    fail("not a PyTorch file (a pickle without PyTorch's magic number)");
  const protocol = readPickle(bytes, plain, magic.end);
  if (protocol.value !== 1001)
    fail(`unsupported legacy protocol version ${String(protocol.value)}`);
  const info = readPickle(bytes, plain, protocol.end);
  if (info.value instanceof PyDict && info.value.entries.get('little_endian') === false)
    fail('a big-endian legacy file is not supported');
  const main = readPickle(
    bytes,
    { globals, source, persistentLoad: (pid) => storageFrom(pid, () => undefined) },
    info.end,
  );
  const keys = readPickle(bytes, plain, main.end);
  if (!Array.isArray(keys.value) || keys.value.some((k) => typeof k !== 'string'))
    fail('legacy storage key list is not a list of strings');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = keys.end;
  for (const key of keys.value as string[]) {
    const storage = storages.get(key);
    if (storage === undefined) return fail(`legacy storage ${key} is not used by any tensor`);
    if (p + 8 > bytes.length) fail(`truncated: storage ${key} at offset ${p}`);
    const count = view.getBigInt64(p, true);
    const length = Number(count) * storage.elementBytes;
    if (count < 0n || p + 8 + length > bytes.length)
      fail(`truncated: storage ${key} at offset ${p} declares ${count} elements`);
    storage.bytes = bytes.subarray(p + 8, p + 8 + length);
    p += 8 + length;
  }
  return toTensors(main.value);
}

/**
 * Imports a PyTorch `state_dict` (`torch.save(model.state_dict(), 'mymodel.pt')`, the reference
 * tutorial's `mymodel.pt`) as a model: the reference's LeNet (`conv1`, `conv2`, `fc1`-`fc3`;
 * pooling and ReLU modules have no parameters, so their presence does not matter) or an MLP
 * (`fc1`...`fcN`). Layouts are converted: conv kernels OIHW to HWIO, linear `[out, in]` to
 * `[in, out]`, and fc1's rows from PyTorch's channels-first flatten order (c, h, w) to this
 * library's (h, w, c), so the model computes the same logits as the PyTorch module.
 * What the weights cannot tell (pooling, activations, the input pipeline) comes from
 * `options`, whose defaults are the reference's training network and transforms. Starts no
 * backend. Read with `readPyTorchStateDict`'s restricted pickle reader: never executes
 * anything from the file.
 *
 * @param bytes - The `.pt`/`.pth` file (zip format of PyTorch 1.6+, or the legacy format).
 * @param options - Architecture details and preprocessing; see `StateDictImportOptions`.
 * @returns A new model (metadata `importedFrom: 'pytorch'`).
 * @throws `UnsafePickleError` for a pickle that asks for anything a state_dict does not
 *   need; `InteropFormatError` for a truncated or corrupt file; `StateDictError`
 *   naming the key for an unknown or missing key, a wrong shape, a dtype other than float32 or
 *   a value that is not finite; `RangeError` for invalid options.
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { createPredictor, importPyTorchStateDict, initBackend } from 'lenet-mnist';
 * await initBackend();
 * const model = await importPyTorchStateDict(await readFile('mymodel.pt'), { source: 'mymodel.pt' });
 * const predictor = await createPredictor(model);
 * ```
 */
export async function importPyTorchStateDict(
  bytes: Uint8Array | ArrayBuffer,
  options: StateDictImportOptions = {},
): Promise<Model> {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const tensors = readPyTorchStateDict(data, options.source ?? 'state_dict');
  return modelFromStateDict(tensors, options, 'pytorch');
}

/**
 * Writes a model's weights as a PyTorch `state_dict` file in the zip format of PyTorch 1.6+:
 * `torch.load(path)` returns an `OrderedDict` of float32 tensors in PyTorch's layouts (conv
 * OIHW, linear `[out, in]`, fc1 in channels-first flatten order) that `load_state_dict` accepts
 * for the matching module (for the default LeNet, the reference's `LeNet` class; see the README).
 * Only `OrderedDict`, `_rebuild_tensor_v2` and `FloatStorage` are pickled, so it also loads
 * with `torch.load(path, weights_only=True)`.
 *
 * @param model - Any model of this library.
 * @returns The file's bytes (about 250 KB for LeNet).
 *
 * @example
 * ```ts
 * import { writeFile } from 'node:fs/promises';
 * import { exportPyTorchStateDict, loadPretrained } from 'lenet-mnist';
 * await writeFile('lenet.pt', await exportPyTorchStateDict(await loadPretrained()));
 * // Python: model = LeNet(); model.load_state_dict(torch.load('lenet.pt'))
 * ```
 */
export async function exportPyTorchStateDict(model: Model): Promise<Uint8Array> {
  const tensors = await torchStateDict(model);
  const w = new PickleWriter().proto();
  const orderedDict = () => w.global('collections', 'OrderedDict').emptyTuple().reduce();
  orderedDict().mark();
  tensors.forEach((t, i) => {
    const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    w.string(t.name).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().string('storage').global('torch', 'FloatStorage').string(String(i)).string('cpu');
    w.int(t.data.length).tuple().persistentId();
    w.int(0).mark();
    for (const d of t.shape) w.int(d);
    w.tuple().mark();
    for (const s of strides) w.int(s);
    w.tuple().bool(false);
    orderedDict().tuple().reduce();
  });
  w.setItems();
  const entries = [{ name: `${ARCHIVE}/data.pkl`, data: w.stop() }];
  tensors.forEach((t, i) => {
    const data = new Uint8Array(t.data.length * 4);
    const view = new DataView(data.buffer);
    for (let j = 0; j < t.data.length; j++) view.setFloat32(j * 4, t.data[j] as number, true);
    entries.push({ name: `${ARCHIVE}/data/${i}`, data });
  });
  entries.push({ name: `${ARCHIVE}/version`, data: new TextEncoder().encode('3\n') });
  return writeZip(entries);
}
