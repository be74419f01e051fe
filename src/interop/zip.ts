import { InteropFormatError } from './errors.js';

// The subset of the zip format (PKWARE APPNOTE 6.3) that PyTorch's `torch.save` writes: stored
// (uncompressed) entries, optionally with zip64 sizes. Everything read is bounds-checked and
// every entry's CRC-32 is verified.

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_BYTES = 22;
const MAX_ENTRIES = 65_536;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE, as zip and gzip use it) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++)
    c = (CRC_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** True if `bytes` starts like a zip file (a local file header). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4
  );
}

/**
 * Reads the entries of a zip archive whose entries are stored (not compressed), as PyTorch
 * writes them. The entries are views into `bytes`, not copies.
 *
 * @throws `InteropFormatError` for a truncated or corrupt archive, a compressed or
 *   encrypted entry, a duplicate name, or a CRC mismatch.
 */
export function readZip(bytes: Uint8Array, source = 'zip'): Map<string, Uint8Array> {
  const fail = (msg: string): never => {
    throw new InteropFormatError(`${source}: ${msg}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (offset: number, length: number, what: string) => {
    if (!(offset >= 0 && length >= 0 && offset + length <= bytes.length)) {
      fail(
        `truncated or corrupt zip: ${what} needs bytes ${offset}..${offset + length}, the file has ${bytes.length}`,
      );
    }
  };
  const u16 = (o: number) => view.getUint16(o, true);
  const u32 = (o: number) => view.getUint32(o, true);
  const u64 = (o: number, what: string) => {
    const v = view.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} is too large`);
    return Number(v);
  };

  // End of central directory: the last 22 bytes, unless a comment (at most 65,535 bytes) follows.
  let eocd = -1;
  const lowest = Math.max(0, bytes.length - EOCD_BYTES - 0xffff);
  for (let o = bytes.length - EOCD_BYTES; o >= lowest; o--) {
    if (u32(o) === EOCD_SIG && o + EOCD_BYTES + u16(o + 20) === bytes.length) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) fail('truncated or not a zip file: no end-of-central-directory record');
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0) fail('multi-disk zip archives are not supported');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locator = eocd - 20;
    need(locator, 20, 'the zip64 locator');
    if (u32(locator) !== ZIP64_LOCATOR_SIG) fail('zip64 sizes without a zip64 locator');
    const z = u64(locator + 8, 'zip64 record offset');
    need(z, 56, 'the zip64 end record');
    if (u32(z) !== ZIP64_EOCD_SIG) fail(`no zip64 end record at offset ${z}`);
    count = u64(z + 32, 'entry count');
    cdSize = u64(z + 40, 'central directory size');
    cdOffset = u64(z + 48, 'central directory offset');
  }
  if (count > MAX_ENTRIES) fail(`${count} entries: more than the ${MAX_ENTRIES} allowed`);
  need(cdOffset, cdSize, 'the central directory');

  const entries = new Map<string, Uint8Array>();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    need(p, 46, `central directory entry ${i}`);
    if (u32(p) !== CENTRAL_SIG)
      fail(`central directory entry ${i} at offset ${p} has a bad signature`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let compressed = u32(p + 20);
    let size = u32(p + 24);
    const nameLength = u16(p + 28);
    const extraLength = u16(p + 30);
    const commentLength = u16(p + 32);
    let local = u32(p + 42);
    need(p + 46, nameLength + extraLength + commentLength, `central directory entry ${i}`);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLength));
    // Zip64 extra field: the 64-bit values of the fields that are 0xffffffff, in this order.
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = u16(e);
      const length = u16(e + 2);
      if (e + 4 + length > extraEnd) fail(`entry '${name}': extra field overruns its header`);
      if (id === 1) {
        let q = e + 4;
        const next = (what: string) => {
          if (q + 8 > e + 4 + length) fail(`entry '${name}': zip64 field lacks its ${what}`);
          const v = u64(q, what);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next('size');
        if (compressed === 0xffffffff) compressed = next('compressed size');
        if (local === 0xffffffff) local = next('header offset');
      }
      e += 4 + length;
    }
    p = extraEnd + commentLength;
    if (flags & 1) fail(`entry '${name}' is encrypted`);
    if (method !== 0) {
      fail(
        `entry '${name}' is compressed (method ${method}); PyTorch writes stored entries (re-save with torch.save)`,
      );
    }
    if (compressed !== size)
      fail(`entry '${name}': stored sizes differ (${compressed} vs ${size})`);
    need(local, 30, `the local header of '${name}'`);
    if (u32(local) !== LOCAL_SIG) fail(`entry '${name}': no local header at offset ${local}`);
    const start = local + 30 + u16(local + 26) + u16(local + 28);
    need(start, size, `the data of '${name}'`);
    const data = bytes.subarray(start, start + size);
    if (crc32(data) !== crc) fail(`entry '${name}': CRC-32 mismatch (corrupt data)`);
    if (entries.has(name)) fail(`duplicate entry '${name}'`);
    entries.set(name, data);
  }
  return entries;
}

/**
 * Writes a zip archive of stored entries, each entry's data aligned to 64 bytes (as PyTorch
 * aligns them, so that `torch.load(..., mmap=True)` works).
 */
export function writeZip(entries: readonly { name: string; data: Uint8Array }[]): Uint8Array {
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const nameBytes = encoder.encode(name);
    // Pad with an extra field (id 'FB', as PyTorch does) so the data starts at a multiple of 64.
    const base = offset + 30 + nameBytes.length;
    const pad = (64 - ((base + 4) % 64)) % 64;
    const extraLength = 4 + pad;
    const crc = crc32(data);
    const local = new Uint8Array(30 + nameBytes.length + extraLength);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, LOCAL_SIG, true);
    lv.setUint16(4, 20, true); // version needed
    lv.setUint16(6, 0x0800, true); // UTF-8 names
    lv.setUint16(8, 0, true); // stored
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, extraLength, true);
    local.set(nameBytes, 30);
    lv.setUint16(30 + nameBytes.length, 0x4246, true); // 'FB'
    lv.setUint16(32 + nameBytes.length, pad, true);
    const cd = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, CENTRAL_SIG, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    cd.set(nameBytes, 46);
    chunks.push(local, data);
    central.push(cd);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const end = new Uint8Array(EOCD_BYTES);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, EOCD_SIG, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + EOCD_BYTES);
  let o = 0;
  for (const c of [...chunks, ...central, end]) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
