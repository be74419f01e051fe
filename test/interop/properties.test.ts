import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InteropFormatError, UnsafePickleError } from '../../src/interop/errors.js';
import { readPickle } from '../../src/interop/pickle.js';
import { readPyTorchStateDict } from '../../src/interop/pytorch.js';
import { readSafetensors } from '../../src/interop/safetensors.js';
import { readZip, writeZip } from '../../src/interop/zip.js';

const fixture = async (name: string) =>
  new Uint8Array(await readFile(new URL(`../fixtures/torch/${name}`, import.meta.url)));

/** Runs `read`; anything thrown must be one of the readers' typed errors. */
function onlyTypedErrors(read: () => unknown): void {
  try {
    read();
  } catch (err) {
    if (!(err instanceof InteropFormatError || err instanceof UnsafePickleError)) throw err;
  }
}

/** Byte edits of a file: overwrite, truncate, or insert. */
const mutation = (length: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(length - 1), byte: fc.nat(255) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(length - 1), byte: fc.constant(0) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(length - 1), byte: fc.nat(255) }),
  );

function mutate(
  bytes: Uint8Array,
  edits: { kind: 'set' | 'cut' | 'insert'; at: number; byte: number }[],
) {
  let out = bytes.slice();
  for (const { kind, at, byte } of edits) {
    const i = Math.min(at, out.length - 1);
    if (kind === 'set') out[i] = byte;
    else if (kind === 'cut') out = out.slice(0, i);
    else out = Uint8Array.from([...out.subarray(0, i), byte, ...out.subarray(i)]);
    if (out.length === 0) break;
  }
  return out;
}

describe('zip reader and writer', () => {
  it('readZip(writeZip(entries)) gives back every entry, aligned to 64 bytes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            name: fc.stringMatching(/^[a-z0-9_./-]{1,40}$/),
            data: fc.uint8Array({ maxLength: 300 }),
          }),
          { selector: (e) => e.name, maxLength: 8 },
        ),
        (entries) => {
          const zip = writeZip(entries);
          const read = readZip(zip);
          expect([...read.keys()]).toEqual(entries.map((e) => e.name));
          for (const { name, data } of entries) {
            const got = read.get(name) as Uint8Array;
            expect(got).toEqual(data);
            expect(got.byteOffset % 64).toBe(0);
          }
        },
      ),
    );
  });

  it('any edit of a zip is read or refused with InteropFormatError, never another error', () => {
    const zip = writeZip([
      { name: 'archive/data.pkl', data: new Uint8Array([1, 2, 3]) },
      { name: 'archive/data/0', data: new Uint8Array(64).fill(7) },
    ]);
    fc.assert(
      fc.property(fc.array(mutation(zip.length), { minLength: 1, maxLength: 4 }), (edits) =>
        onlyTypedErrors(() => readZip(mutate(zip, edits))),
      ),
      { numRuns: 500 },
    );
  });
});

describe('restricted pickle reader', () => {
  const hooks = { globals: new Map([['collections.OrderedDict', () => null]]), source: 'fuzz' };

  it('arbitrary bytes are read or refused with a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) =>
        onlyTypedErrors(() => readPickle(bytes, hooks)),
      ),
      { numRuns: 2000 },
    );
  });

  it('any global outside the allow-list is refused with UnsafePickleError, before REDUCE', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.]{0,20}$/),
        fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/),
        (module, name) => {
          fc.pre(`${module}.${name}` !== 'collections.OrderedDict');
          // GLOBAL module name, EMPTY_TUPLE, REDUCE, STOP: a call.
          const pickle = Uint8Array.from([
            0x80,
            2,
            ...new TextEncoder().encode(`c${module}\n${name}\n)R.`),
          ]);
          let err: unknown;
          try {
            readPickle(pickle, hooks);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(UnsafePickleError);
          expect((err as UnsafePickleError).what).toBe(`${module}.${name}`);
        },
      ),
    );
  });
});

describe('PyTorch and safetensors readers on edited files', () => {
  it.each(['tiny-mlp.pt', 'tiny-mlp-strided.pt', 'mlp-legacy.pt'])(
    'edits of %s: read or refused with a typed error',
    async (name) => {
      const bytes = await fixture(name);
      fc.assert(
        fc.property(fc.array(mutation(bytes.length), { minLength: 1, maxLength: 3 }), (edits) =>
          onlyTypedErrors(() => readPyTorchStateDict(mutate(bytes, edits))),
        ),
        { numRuns: name === 'mlp-legacy.pt' ? 100 : 400 },
      );
    },
  );

  it('edits of the pickle inside a .pt (the bytes PyTorch wrote): read or refused', async () => {
    const zip = readZip(await fixture('tiny-mlp-strided.pt'));
    const pickle = zip.get('archive/data.pkl') as Uint8Array;
    const globals = new Map<string, undefined>([['torch.FloatStorage', undefined]]);
    fc.assert(
      fc.property(fc.array(mutation(pickle.length), { minLength: 1, maxLength: 3 }), (edits) =>
        onlyTypedErrors(() =>
          readPickle(mutate(pickle, edits), {
            globals,
            source: 'fuzz',
            persistentLoad: () => null,
          }),
        ),
      ),
      { numRuns: 1000 },
    );
  });

  it('edits of a safetensors header: read or refused with InteropFormatError', async () => {
    const bytes = (await fixture('lenet-sketch.safetensors')).subarray(0, 2000);
    fc.assert(
      fc.property(fc.array(mutation(600), { minLength: 1, maxLength: 3 }), (edits) =>
        onlyTypedErrors(() => readSafetensors(mutate(bytes, edits))),
      ),
      { numRuns: 500 },
    );
  });
});
