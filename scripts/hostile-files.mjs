// Builders of the hostile files of issue 24 (and benign ones of the same kinds), shared by the
// default-run test (test/hostile-inputs.test.ts) and the long campaign
// (scripts/hostile-campaign.mjs). Plain JavaScript on Node's zlib, no library code, so that the
// files are the same whatever the library does with them.
import { crc32, deflateSync } from 'node:zlib';

const u32be = (v) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

function pngChunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  return Buffer.concat([u32be(data.length), body, u32be(crc32(body))]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A PNG whose IHDR declares `width` x `height` and whose IDAT holds `idat` (default: empty zlib). */
export function pngDeclaring(width, height, { bitDepth = 8, colorType = 0, idat } = {}) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  return new Uint8Array(
    Buffer.concat([
      PNG_SIGNATURE,
      pngChunk('IHDR', ihdr),
      pngChunk('IDAT', idat ?? deflateSync(Buffer.alloc(0))),
      pngChunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

/** A decompression bomb: a grey `side` x `side` PNG whose zero rows deflate to a few KB per MB. */
export function pngBomb(side) {
  return pngDeclaring(side, side, {
    idat: deflateSync(Buffer.alloc(side * (side + 1)), { level: 9 }),
  });
}

/** A valid grey PNG (a bright square on black), `side` x `side`. */
export function pngSquare(side) {
  const rows = Buffer.alloc(side * (side + 1));
  for (let y = side / 4; y < (3 * side) / 4; y++)
    for (let x = side / 4; x < (3 * side) / 4; x++) rows[y * (side + 1) + 1 + x] = 255;
  return pngDeclaring(side, side, { idat: deflateSync(rows) });
}

/** A small JPEG whose frame header (SOF0) claims `width` x `height`, 3 components. */
export function jpegDeclaring(width, height) {
  const segment = (marker, data) =>
    Buffer.concat([
      Buffer.from([0xff, marker]),
      Buffer.from([(data.length + 2) >> 8, (data.length + 2) & 0xff]),
      data,
    ]);
  const dqt = Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 1)]);
  const sof = Buffer.from([
    8,
    height >> 8,
    height & 0xff,
    width >> 8,
    width & 0xff,
    3,
    1,
    0x11,
    0,
    2,
    0x11,
    0,
    3,
    0x11,
    0,
  ]);
  // One DC and one AC table, each with a single 1-bit code.
  const dht = Buffer.concat([
    Buffer.from([0x00, 1]),
    Buffer.alloc(15),
    Buffer.from([0]),
    Buffer.from([0x10, 1]),
    Buffer.alloc(15),
    Buffer.from([0]),
  ]);
  const sos = Buffer.from([3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]);
  const app = Buffer.concat([
    Buffer.from('JFIF\0', 'latin1'),
    Buffer.from([1, 1, 0, 0, 1, 0, 1, 0, 0]),
  ]);
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0xff, 0xd8]),
      segment(0xe0, app),
      segment(0xdb, dqt),
      segment(0xc0, sof),
      segment(0xc4, dht),
      segment(0xda, sos),
      Buffer.alloc(400, 0),
      Buffer.from([0xff, 0xd9]),
    ]),
  );
}

/** A stored (uncompressed) zip of `entries` ({ name, data }), as torch.save writes. */
export function zipStored(entries, { extraCentral = [] } = {}) {
  const locals = [];
  const central = [];
  let offset = 0;
  const record = (name, data, at) => {
    const nameBytes = Buffer.from(name, 'utf8');
    const cd = Buffer.alloc(46 + nameBytes.length);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt32LE(crc32(data), 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(nameBytes.length, 28);
    cd.writeUInt32LE(at, 42);
    nameBytes.copy(cd, 46);
    return cd;
  };
  const placed = new Map();
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const local = Buffer.alloc(30 + nameBytes.length);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    nameBytes.copy(local, 30);
    central.push(record(name, data, offset));
    placed.set(name, { at: offset, data });
    locals.push(local, Buffer.from(data));
    offset += local.length + data.length;
  }
  // Extra central records pointing at an entry already placed (`{ name, target }`).
  for (const { name, target } of extraCentral) {
    const { at, data } = placed.get(target);
    central.push(record(name, data, at));
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(central.length, 8);
  end.writeUInt16LE(central.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, cd, end]));
}

/** Pickle opcodes for a `state_dict` whose keys are tensor views of one FloatStorage. */
function sharedStoragePickle(keys, numel, view) {
  const out = [];
  const byte = (...b) => out.push(...b);
  const u32 = (v) => byte(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  const str = (s) => {
    const b = Buffer.from(s, 'utf8');
    byte(0x58);
    u32(b.length);
    byte(...b);
  };
  const int = (v) => {
    byte(0x4a);
    u32(v);
  };
  const global = (m, n) => byte(0x63, ...Buffer.from(`${m}\n${n}\n`, 'latin1'));
  byte(0x80, 2, 0x7d, 0x28); // PROTO 2, EMPTY_DICT, MARK
  for (let k = 0; k < keys; k++) {
    const { offset, length } = view(k);
    str(`layer${k}.weight`);
    global('torch._utils', '_rebuild_tensor_v2');
    byte(0x28, 0x28); // MARK (args), MARK (persistent id)
    str('storage');
    global('torch', 'FloatStorage');
    str('0');
    str('cpu');
    int(numel);
    byte(0x74, 0x51); // TUPLE, BINPERSID
    int(offset);
    byte(0x28);
    int(length);
    byte(0x74, 0x28); // TUPLE (shape), MARK
    int(1);
    byte(0x74, 0x89); // TUPLE (stride), False
    global('collections', 'OrderedDict');
    byte(0x29, 0x52, 0x74, 0x52); // EMPTY_TUPLE, REDUCE, TUPLE, REDUCE
  }
  byte(0x75, 0x2e); // SETITEMS, STOP
  return Uint8Array.from(out);
}

/**
 * A `.pt` whose `keys` keys all view one storage of `storageBytes`: the same view (`distinct`
 * false) or each its own overlapping one.
 */
export function ptSharedStorage(keys, storageBytes, { distinct = false } = {}) {
  const numel = storageBytes / 4;
  const pkl = sharedStoragePickle(keys, numel, (k) =>
    distinct ? { offset: k, length: numel - k } : { offset: 0, length: numel },
  );
  return zipStored([
    { name: 'archive/data.pkl', data: pkl },
    { name: 'archive/data/0', data: new Uint8Array(storageBytes) },
    { name: 'archive/version', data: Buffer.from('3\n') },
  ]);
}

/** A legacy-format `.pt` start: PROTO 2 then `count` MARK opcodes. */
export function pickleMarks(count) {
  const out = new Uint8Array(2 + count).fill(0x28);
  out[0] = 0x80;
  out[1] = 2;
  return out;
}

/** A zip with `records` central-directory records (distinct names) over one `entryBytes` entry. */
export function zipManyRecords(records, entryBytes) {
  const data = new Uint8Array(entryBytes).fill(7);
  return zipStored([{ name: 'archive/data/0', data }], {
    extraCentral: Array.from({ length: records - 1 }, (_, i) => ({
      name: `alias${i}`,
      target: 'archive/data/0',
    })),
  });
}

/** safetensors bytes from a header object and the data bytes. */
export function safetensors(header, data) {
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  return new Uint8Array(Buffer.concat([head, Buffer.from(json), Buffer.from(data)]));
}

/** `names` tensors all over the same `bytes` region. */
export function safetensorsAliased(names, bytes) {
  const header = {};
  for (let i = 0; i < names; i++)
    header[`t${i}`] = { dtype: 'F32', shape: [bytes / 4], data_offsets: [0, bytes] };
  return safetensors(header, new Uint8Array(bytes));
}

/** A safetensors file whose header is `depth` nested arrays (about 2 * depth bytes). */
export function safetensorsNested(depth) {
  const json = `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`;
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  return new Uint8Array(Buffer.concat([head, Buffer.from(json)]));
}

/** A gzipped IDX header declaring uint8 data of `shape`, with no payload. */
export function idxHeaderOnly(shape) {
  const head = Buffer.alloc(4 + 4 * shape.length);
  head[2] = 0x08;
  head[3] = shape.length;
  for (const [i, d] of shape.entries()) head.writeUInt32BE(d, 4 + 4 * i);
  return head;
}
