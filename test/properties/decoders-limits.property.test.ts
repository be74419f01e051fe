// Issue 24: the decoders' new rules as properties. Each decoder allocates no more than its
// input's real size (or a documented cap checked before allocating), and every refusal is a
// typed error. `FUZZ_RUNS` scales the case counts (scripts/fuzz.mjs, scripts/hostile-campaign.mjs).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as files from '../../scripts/hostile-files.mjs';
import {
  checkJpegHeader,
  checkPngHeader,
  ImageFileError,
  MAX_DECODE_BYTES,
  MAX_IMAGE_PIXELS,
} from '../../src/cli/image-limits.js';
import { InteropFormatError, UnsafePickleError } from '../../src/interop/errors.js';
import { readPickle } from '../../src/interop/pickle.js';
import { readPyTorchStateDict } from '../../src/interop/pytorch.js';
import { readSafetensors } from '../../src/interop/safetensors.js';
import { readZip } from '../../src/interop/zip.js';
import { params, report } from '../helpers/fuzz.js';

afterAll(() => report('decoders-limits'));

const PNG_KINDS: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};

describe('image headers', () => {
  it('a PNG is accepted iff its IHDR is valid and its pixels and decode bytes are within the caps', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 5000 })),
        fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 5000 })),
        fc.constantFrom(1, 2, 4, 8, 16, 3, 32),
        fc.constantFrom(0, 2, 3, 4, 6, 1, 5, 7),
        (width, height, bitDepth, colorType) => {
          const bytes = files.pngDeclaring(width, height, { bitDepth, colorType });
          const kind = PNG_KINDS[colorType];
          const valid =
            width > 0 && height > 0 && kind !== undefined && kind.depths.includes(bitDepth);
          const raw = height * (1 + Math.ceil((width * (kind?.channels ?? 1) * bitDepth) / 8));
          const fits =
            width * height <= MAX_IMAGE_PIXELS && 2 * raw + 4 * width * height <= MAX_DECODE_BYTES;
          let accepted = true;
          try {
            checkPngHeader(bytes, 'p.png');
          } catch (err) {
            expect(err).toBeInstanceOf(ImageFileError);
            expect((err as Error).message.startsWith('p.png: ')).toBe(true);
            accepted = false;
          }
          expect(accepted).toBe(valid && fits);
        },
      ),
      params('png header'),
    );
  });

  it('a JPEG is accepted iff its SOF declares a size within the caps', () => {
    fc.assert(
      fc.property(fc.nat(0xffff), fc.nat(0xffff), (width, height) => {
        let accepted = true;
        try {
          checkJpegHeader(files.jpegDeclaring(width, height), 'j.jpg');
        } catch (err) {
          expect(err).toBeInstanceOf(ImageFileError);
          accepted = false;
        }
        const fits =
          width > 0 &&
          height > 0 &&
          width * height <= MAX_IMAGE_PIXELS &&
          width * height * 10 <= MAX_DECODE_BYTES;
        expect(accepted).toBe(fits);
      }),
      params('jpeg header'),
    );
  });
});

describe('pickle', () => {
  it('MARKs count against the stack limit: refused past 100,000 entries, in time linear in the input', () => {
    fc.assert(
      fc.property(fc.integer({ min: 99_990, max: 100_010 }), fc.nat(5), (marks, pushes) => {
        // PROTO, `pushes` NONEs, then MARKs: the stack holds pushes + marks entries.
        const body = new Uint8Array(2 + pushes + marks).fill(0x28);
        body.set([0x80, 2], 0);
        body.fill(0x4e, 2, 2 + pushes);
        let error: unknown;
        try {
          readPickle(body, { globals: new Map(), source: 'p' });
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(InteropFormatError);
        const tooDeep = /stack too deep/.test((error as Error).message);
        expect(tooDeep).toBe(pushes + marks > 100_000);
      }),
      {
        ...params('pickle marks'),
        numRuns: Math.max(10, Math.round(Number(process.env.FUZZ_RUNS ?? 200) / 10)),
      },
    );
  });
});

describe('zip', () => {
  it('records that share an entry are refused before any CRC; distinct entries read back', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z]{1,8}$/), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        (names, aliases, payload) => {
          const entries = names.map((name, i) => ({ name, data: payload.map((b) => b ^ i) }));
          const extra = aliases.map((a, k) => ({
            name: `alias-${k}`,
            target: names[a % names.length] as string,
          }));
          const bytes = files.zipStored(entries, { extraCentral: extra });
          if (extra.length === 0) {
            const read = readZip(bytes, 'z');
            expect([...read.keys()]).toEqual(names);
            for (const e of entries) expect(read.get(e.name)).toEqual(e.data);
          } else {
            expect(() => readZip(bytes, 'z')).toThrow(/overlap/);
          }
        },
      ),
      params('zip aliases'),
    );
  });
});

describe('PyTorch shared storages', () => {
  it('views of one storage: identical views share a copy, copies never exceed the file size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 41, max: 256 }),
        fc.boolean(),
        (keys, floats, distinct) => {
          const bytes = files.ptSharedStorage(keys, floats * 4, { distinct });
          let tensors: ReturnType<typeof readPyTorchStateDict> | undefined;
          try {
            tensors = readPyTorchStateDict(bytes, 's.pt');
          } catch (err) {
            if (!(err instanceof InteropFormatError || err instanceof UnsafePickleError)) throw err;
            expect((err as Error).message).toMatch(/overlap|reads past|only/);
            return;
          }
          const copies = new Set(tensors.map((t) => t.data));
          const copied = [...copies].reduce((sum, d) => sum + (d?.byteLength ?? 0), 0);
          expect(copied).toBeLessThanOrEqual(bytes.length);
          if (!distinct) expect(copies.size).toBe(1);
        },
      ),
      params('pytorch views'),
    );
  });
});

describe('safetensors', () => {
  const layout = fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 8 });

  it('accepted iff the tensors tile the data exactly; then each reads its own bytes', () => {
    fc.assert(
      fc.property(
        layout,
        fc.constantFrom('exact', 'overlap', 'gap', 'tail'),
        fc.nat(),
        (counts, change, pick) => {
          const header: Record<string, unknown> = {};
          let offset = 0;
          const ranges = counts.map((n) => {
            const range: [number, number] = [offset, offset + n * 4];
            offset += n * 4;
            return range;
          });
          let data = offset;
          const victim = pick % counts.length;
          const moved = ranges[victim] as [number, number];
          if (change === 'overlap' && victim > 0 && (counts[victim] as number) > 0) {
            // Slide it back over its predecessor (same size, so its shape still fits).
            const back = Math.min(moved[0], 4);
            if (back > 0) ranges[victim] = [moved[0] - back, moved[1] - back];
          } else if (change === 'gap') {
            data += 4;
            for (let i = victim; i < ranges.length; i++) {
              const [a, b] = ranges[i] as [number, number];
              ranges[i] = [a + 4, b + 4];
            }
          } else if (change === 'tail') {
            data += 4;
          }
          counts.forEach((n, i) => {
            header[`t${i}`] = { dtype: 'F32', shape: [n], data_offsets: ranges[i] };
          });
          const payload = Uint8Array.from({ length: data }, (_, i) => i % 251);
          const bytes = files.safetensors(header, payload);
          const exact =
            ranges.every((r, i) => r[0] === (i === 0 ? 0 : (ranges[i - 1] as number[])[1])) &&
            ranges.at(-1)?.[1] === data;
          let read: ReturnType<typeof readSafetensors> | undefined;
          try {
            read = readSafetensors(bytes, 's');
          } catch (err) {
            expect(err).toBeInstanceOf(InteropFormatError);
          }
          expect(read !== undefined).toBe(exact);
          read?.forEach((t, i) => {
            const [a] = ranges[i] as [number, number];
            const want = new Float32Array(payload.slice(a, a + (counts[i] as number) * 4).buffer);
            expect(t.data).toEqual(want);
          });
        },
      ),
      params('safetensors tiling'),
    );
  });

  it('headers nested deeper than 3 levels are refused before parsing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), (depth) => {
        const shape = `${'['.repeat(depth)}${']'.repeat(depth)}`;
        const json = `{"t":{"dtype":"F32","shape":${shape},"data_offsets":[0,0]}}`;
        const head = new Uint8Array(8);
        new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
        const bytes = new Uint8Array([...head, ...new TextEncoder().encode(json)]);
        let message = '';
        try {
          readSafetensors(bytes, 's');
        } catch (err) {
          expect(err).toBeInstanceOf(InteropFormatError);
          message = (err as Error).message;
        }
        // The header object and the tensor's object are 2 levels: a shape nested more than
        // once goes past the 3 a header has, and is refused by the scan, before parsing.
        expect(/deeper than the 3 levels/.test(message)).toBe(depth >= 2);
      }),
      params('safetensors depth'),
    );
  });
});
