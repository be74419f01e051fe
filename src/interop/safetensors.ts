import type { Model } from '../engine/types.js';
import { InteropFormatError } from './errors.js';
import {
  modelFromStateDict,
  type StateDictImportOptions,
  type StateDictTensor,
  torchStateDict,
} from './layout.js';

// safetensors: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}, then the
// tensors' bytes, row-major little-endian, offsets relative to the end of the header.

const DTYPES: Record<string, [dtype: string, bytes: number]> = {
  F64: ['float64', 8],
  F32: ['float32', 4],
  F16: ['float16', 2],
  BF16: ['bfloat16', 2],
  I64: ['int64', 8],
  I32: ['int32', 4],
  I16: ['int16', 2],
  I8: ['int8', 1],
  U8: ['uint8', 1],
  BOOL: ['bool', 1],
};
const MAX_HEADER = 100_000_000;

/**
 * Reads the tensors of a safetensors file, in PyTorch's layouts (as `safetensors.torch.save_file`
 * writes a `state_dict`). Validates the header, every offset and size.
 *
 * @param bytes - The file's bytes.
 * @param source - A name for the file in error messages. Default: `'safetensors'`.
 * @returns The tensors in header order; `data` only for float32 tensors.
 * @throws `InteropFormatError` for a truncated or malformed file.
 *
 * @example
 * ```ts
 * for (const t of readSafetensors(bytes)) console.log(t.name, t.dtype, t.shape);
 * ```
 */
export function readSafetensors(bytes: Uint8Array, source = 'safetensors'): StateDictTensor[] {
  const fail = (msg: string): never => {
    throw new InteropFormatError(`${source}: ${msg}`);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER, bytes.length - 8)))
    fail(`header length ${headerLength} exceeds the ${bytes.length - 8} bytes that follow`);
  const start = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, start)));
  } catch (err) {
    fail(`header is not UTF-8 JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    fail('header is not a JSON object');
  const dataLength = bytes.length - start;
  const out: StateDictTensor[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    const kind = typeof info?.dtype === 'string' ? DTYPES[info.dtype] : undefined;
    if (kind === undefined) fail(`'${name}': unknown dtype ${JSON.stringify(info?.dtype)}`);
    const [dtype, elementBytes] = kind as [string, number];
    const shape = info?.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`'${name}': shape is not a list of non-negative integers`);
    const offsets = info?.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1] ||
      offsets[1] > dataLength
    ) {
      fail(
        `'${name}': data_offsets ${JSON.stringify(offsets)} outside the ${dataLength} data bytes`,
      );
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * elementBytes)
      fail(`'${name}': ${end - begin} bytes for shape [${shape}] of ${dtype}`);
    let data: Float32Array | undefined;
    if (dtype === 'float32') {
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(start + begin + i * 4, true);
    }
    out.push({ name, dtype, shape: shape as number[], data });
  }
  return out;
}

/**
 * Imports a `state_dict` saved as safetensors
 * (`safetensors.torch.save_file(model.state_dict(), path)`): the same names, layouts and
 * options as `importPyTorchStateDict`.
 *
 * @param bytes - The `.safetensors` file.
 * @param options - Architecture details and preprocessing; see `StateDictImportOptions`.
 * @returns A new model (metadata `importedFrom: 'safetensors'`).
 * @throws `InteropFormatError` for a malformed file; `StateDictError` naming the key
 *   for an unknown or missing key, a wrong shape, a dtype other than float32 or a non-finite
 *   value; `RangeError` for invalid options.
 *
 * @example
 * ```ts
 * const model = await importSafetensors(await readFile('lenet.safetensors'), { pooling: 'avg' });
 * ```
 */
export async function importSafetensors(
  bytes: Uint8Array | ArrayBuffer,
  options: StateDictImportOptions = {},
): Promise<Model> {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return modelFromStateDict(
    readSafetensors(data, options.source ?? 'safetensors'),
    options,
    'safetensors',
  );
}

/**
 * Writes a model's weights as safetensors, with PyTorch's names and layouts (what
 * `safetensors.torch.load_file` returns is a `state_dict` for the matching module).
 *
 * @param model - Any model of this library.
 * @returns The file's bytes.
 *
 * @example
 * ```ts
 * await writeFile('lenet.safetensors', await exportSafetensors(model));
 * ```
 */
export async function exportSafetensors(model: Model): Promise<Uint8Array> {
  const tensors = await torchStateDict(model);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = {
      dtype: 'F32',
      shape: t.shape,
      data_offsets: [offset, offset + t.data.length * 4],
    };
    offset += t.data.length * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let o = 8 + headerBytes.length;
  for (const t of tensors) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(o + i * 4, t.data[i] as number, true);
    o += t.data.length * 4;
  }
  return out;
}
