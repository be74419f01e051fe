import type { Model } from '../engine/types.js';
import { InteropFormatError } from './errors.js';
import {
  importStateDict,
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
/**
 * Largest JSON header read: 8 MiB (a state_dict this library imports has a header of a few KB;
 * large language models' headers stay under 2 MiB). Checked before the header is decoded.
 */
export const MAX_SAFETENSORS_HEADER = 8 * 2 ** 20;
/**
 * Deepest nesting of arrays and objects a header may have: the header object, a tensor's
 * object, its `shape` or `data_offsets` list. Checked by a scan before `JSON.parse`, so a
 * header of nested brackets costs no more than its bytes.
 */
const MAX_HEADER_DEPTH = 3;

/** True if `bytes` start like a safetensors file: a plausible header length, then `{`. */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10 || bytes[8] !== 0x7b) return false;
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(
    0,
    true,
  );
  return length >= 2n && length <= BigInt(Math.min(MAX_SAFETENSORS_HEADER, bytes.length - 8));
}

/** The deepest nesting of `[` and `{` outside strings in JSON text, stopping past `limit`. */
function jsonDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] as number;
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/**
 * Reads the tensors of a safetensors file, in PyTorch's layouts (as `safetensors.torch.save_file`
 * writes a `state_dict`). Validates the header (at most 8 MiB, no
 * deeper than a header needs), every offset and size, and that the tensors' byte ranges cover
 * the data exactly, without overlap or gap, as the format requires.
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
  if (headerLength > BigInt(bytes.length - 8) || bytes[8] !== 0x7b) {
    fail(
      `not a safetensors file: it must start with an 8-byte header length and a JSON object, but its first 8 bytes read as ${headerLength} and ${bytes.length - 8} bytes follow${bytes[8] === 0x7b ? '' : ' (no "{")'}`,
    );
  }
  if (headerLength > BigInt(MAX_SAFETENSORS_HEADER))
    fail(`header of ${headerLength} bytes, more than the ${MAX_SAFETENSORS_HEADER} allowed`);
  const start = 8 + Number(headerLength);
  const headerBytes = bytes.subarray(8, start);
  if (jsonDepth(headerBytes, MAX_HEADER_DEPTH) > MAX_HEADER_DEPTH)
    fail(`header nests arrays or objects deeper than the ${MAX_HEADER_DEPTH} levels a header has`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (err) {
    fail(`header is not UTF-8 JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    fail('header is not a JSON object');
  const dataLength = bytes.length - start;
  const listed: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
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
    listed.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // As the format requires: the tensors' byte ranges tile the data exactly, without overlap or
  // gap, so each byte belongs to one tensor (and copies total at most the file's size).
  const byOffset = [...listed].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const t of byOffset) {
    if (t.begin < covered)
      fail(`'${t.name}': data_offsets [${t.begin}, ${t.end}] overlap another tensor's bytes`);
    if (t.begin > covered)
      fail(
        `'${t.name}': data_offsets [${t.begin}, ${t.end}] leave bytes ${covered}..${t.begin} unused`,
      );
    covered = t.end;
  }
  if (covered !== dataLength)
    fail(`the tensors cover ${covered} of the ${dataLength} data bytes; the rest is unused`);
  return listed.map(({ name, dtype, shape, begin }) => {
    let data: Float32Array | undefined;
    if (dtype === 'float32') {
      const count = shape.reduce((a, b) => a * b, 1);
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(start + begin + i * 4, true);
    }
    return { name, dtype, shape, data };
  });
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
  return importStateDict(bytes, options, 'safetensors', readSafetensors, 'safetensors');
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
