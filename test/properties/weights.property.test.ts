import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/model/types.js';
import {
  decodeWeights,
  encodeWeights,
  expectedTensors,
  WeightsFormatError,
  type WeightsHeader,
} from '../../src/model/weights.js';
import { applyEdits, editArb, params, report } from '../helpers/fuzz.js';

/** Small architectures: MLPs on tiny inputs, and LeNet at its smallest input (16). */
const specArb: fc.Arbitrary<ModelSpec> = fc.oneof(
  fc.record({
    kind: fc.constant('mlp' as const),
    inputSize: fc.integer({ min: 1, max: 6 }),
    hidden: fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 3 }),
    activation: fc.constantFrom('relu' as const, 'tanh' as const),
  }),
  fc.record({
    kind: fc.constant('lenet' as const),
    inputSize: fc.constantFrom(16, 20),
    pooling: fc.constantFrom('max' as const, 'avg' as const),
    activation: fc.constantFrom('relu' as const, 'tanh' as const),
    conv2Activation: fc.boolean(),
  }),
);

/** A valid file: a spec, finite weights, and JSON metadata. */
const weightsArb = fc
  .record({
    spec: specArb,
    values: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), {
      minLength: 1,
      maxLength: 32,
    }),
    metadata: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })), {
      nil: undefined,
    }),
    mean: fc.double({ noNaN: true, noDefaultInfinity: true, min: -10, max: 10 }),
    std: fc.double({ noNaN: true, min: 0.001, max: 10 }),
  })
  .map(({ spec, values, metadata, mean, std }) => {
    const list = expectedTensors(spec);
    const header: WeightsHeader = {
      spec,
      preprocessing: { size: spec.inputSize, resize: 'none', mean, std },
      tensors: list.map((t) => ({ name: t.name, shape: t.shape, dtype: 'float32' as const })),
      ...(metadata === undefined ? {} : { metadata }),
    };
    const tensors = list.map((t, k) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      return Float32Array.from({ length: n }, (_, i) => values[(i + k) % values.length] as number);
    });
    return { header, tensors };
  });

function onlyWeightsErrors(err: unknown): void {
  if (!(err instanceof WeightsFormatError)) throw err;
}

afterAll(() => report('weights'));

describe('weights decoder properties', () => {
  it('encodeWeights -> decodeWeights round-trips header and tensors bit for bit', () => {
    fc.assert(
      fc.property(weightsArb, ({ header, tensors }) => {
        const bytes = encodeWeights(header, tensors);
        const back = decodeWeights(bytes);
        // JSON is what the file holds: compare through it (-0 and 0 are one JSON number).
        expect(JSON.stringify(back.header)).toBe(JSON.stringify(header));
        expect(back.tensors.length).toBe(tensors.length);
        back.tensors.forEach((t, i) => {
          expect(
            Buffer.compare(Buffer.from(t.buffer), Buffer.from((tensors[i] as Float32Array).buffer)),
          ).toBe(0);
        });
        // An ArrayBuffer reads the same.
        expect(decodeWeights(bytes.slice().buffer).tensors.length).toBe(tensors.length);
      }),
      params('round trip'),
    );
  });

  it('byte mutations of valid files only ever throw WeightsFormatError', () => {
    fc.assert(
      fc.property(weightsArb, fc.array(editArb, { minLength: 1, maxLength: 6 }), (w, edits) => {
        const bytes = applyEdits(encodeWeights(w.header, w.tensors), edits);
        try {
          const back = decodeWeights(bytes, 'fuzz');
          for (const t of back.tensors) expect(t.every(Number.isFinite)).toBe(true);
        } catch (err) {
          onlyWeightsErrors(err);
        }
      }),
      params('byte mutations'),
    );
  });

  it('any JSON header (nulls, wrong types, missing fields) only throws WeightsFormatError', () => {
    const headerArb = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      // Valid headers with one field replaced by arbitrary JSON.
      fc
        .tuple(
          weightsArb,
          fc.constantFrom('spec', 'preprocessing', 'tensors', 'metadata', 'tensor', 'shape'),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .map(([w, field, value]) => {
          const h = JSON.parse(JSON.stringify(w.header)) as Record<string, unknown>;
          const tensors = h.tensors as Record<string, unknown>[];
          if (field === 'tensor') tensors[0] = value as never;
          else if (field === 'shape') (tensors[0] as Record<string, unknown>).shape = value;
          else h[field] = value;
          return h;
        }),
    );
    fc.assert(
      fc.property(headerArb, (header) => {
        const json = new TextEncoder().encode(JSON.stringify(header) ?? 'null');
        const bytes = new Uint8Array(12 + ((json.length + 3) & ~3) + 64);
        bytes.set([0x4c, 0x4e, 0x4d, 0x57, 1, 0, 0, 0]);
        new DataView(bytes.buffer).setUint32(8, json.length, true);
        bytes.set(json, 12);
        try {
          decodeWeights(bytes);
        } catch (err) {
          onlyWeightsErrors(err);
        }
      }),
      params('JSON headers'),
    );
  });
});
