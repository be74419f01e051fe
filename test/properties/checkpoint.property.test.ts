import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/model/types.js';
import { expectedTensors } from '../../src/model/weights.js';
import {
  CheckpointFormatError,
  decodeCheckpoint,
  encodeCheckpoint,
  type TrainCheckpoint,
} from '../../src/train/checkpoint.js';
import { applyEdits, editArb, params, report } from '../helpers/fuzz.js';

/** Small architectures, so a case stays a few KB. */
const specArb: fc.Arbitrary<ModelSpec> = fc.oneof(
  fc.record({
    kind: fc.constant('mlp' as const),
    inputSize: fc.integer({ min: 1, max: 5 }),
    hidden: fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 2 }),
    activation: fc.constantFrom('relu' as const, 'tanh' as const),
  }),
  fc.record({
    kind: fc.constant('lenet' as const),
    inputSize: fc.constant(16),
    pooling: fc.constantFrom('max' as const, 'avg' as const),
    activation: fc.constantFrom('relu' as const, 'tanh' as const),
    conv2Activation: fc.boolean(),
  }),
);

const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });

/** A valid checkpoint: arrays sized for the spec, positions and sums in range. */
const checkpointArb: fc.Arbitrary<TrainCheckpoint> = fc
  .record({
    spec: specArb,
    values: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), {
      minLength: 1,
      maxLength: 16,
    }),
    step: fc.nat({ max: 1e6 }),
    epoch: fc.integer({ min: 1, max: 100 }),
    batch: fc.nat({ max: 1000 }),
    seed: finite,
    batchSize: fc.integer({ min: 1, max: 4096 }),
    shuffle: fc.boolean(),
    dataCount: fc.integer({ min: 1, max: 1e6 }),
    lossSum: finite,
    correct: fc.nat(),
    seen: fc.nat(),
    seconds: fc.double({ noNaN: true, min: 0, max: 1e5 }),
    mean: fc.double({ noNaN: true, min: -1, max: 1 }),
    std: fc.double({ noNaN: true, min: 0.01, max: 2 }),
  })
  .map((r) => {
    const sizes = expectedTensors(r.spec).map((t) => t.shape.reduce((a, b) => a * b, 1));
    const arrays = (shift: number) =>
      sizes.map((n, k) =>
        Float32Array.from(
          { length: n },
          (_, i) => r.values[(i + k + shift) % r.values.length] as number,
        ),
      );
    return {
      spec: r.spec,
      preprocessing: { size: r.spec.inputSize, resize: 'none' as const, mean: r.mean, std: r.std },
      weights: arrays(0),
      optimizer: { step: r.step, firstMoment: arrays(1), secondMoment: arrays(2) },
      next: { epoch: r.epoch, batch: r.batch },
      run: { seed: r.seed, batchSize: r.batchSize, shuffle: r.shuffle, dataCount: r.dataCount },
      partialEpoch: {
        lossSum: r.lossSum,
        correct: r.correct,
        seen: r.seen,
        batches: r.batch,
        seconds: r.seconds,
      },
      epochs: Array.from({ length: r.epoch - 1 }, (_, i) => ({
        epoch: i + 1,
        loss: Math.abs(r.lossSum) / 1e6,
        accuracy: 0.5,
        seconds: r.seconds,
        samplesPerSecond: 100,
        batches: r.batch,
      })),
    };
  });

function onlyCheckpointErrors(err: unknown): void {
  if (!(err instanceof CheckpointFormatError)) throw err;
}

afterAll(() => report('checkpoint'));

describe('checkpoint decoder properties', () => {
  it('encodeCheckpoint -> decodeCheckpoint round-trips everything, arrays bit for bit', () => {
    fc.assert(
      fc.property(checkpointArb, (cp) => {
        const back = decodeCheckpoint(encodeCheckpoint(cp));
        const { weights, optimizer, ...rest } = back;
        const { weights: w0, optimizer: o0, ...rest0 } = cp;
        expect(JSON.stringify(rest)).toBe(JSON.stringify(rest0));
        expect(optimizer.step).toBe(o0.step);
        for (const [a, b] of [
          [weights, w0],
          [optimizer.firstMoment, o0.firstMoment],
          [optimizer.secondMoment, o0.secondMoment],
        ] as const) {
          expect(a.length).toBe(b.length);
          a.forEach((t, i) => {
            const u = b[i] as Float32Array;
            expect(
              Buffer.compare(
                Buffer.from(t.buffer),
                Buffer.from(u.buffer, u.byteOffset, u.byteLength),
              ),
            ).toBe(0);
          });
        }
      }),
      params('round trip'),
    );
  });

  it('byte mutations of valid checkpoints only ever throw CheckpointFormatError', () => {
    fc.assert(
      fc.property(checkpointArb, fc.array(editArb, { minLength: 1, maxLength: 6 }), (cp, edits) => {
        const bytes = applyEdits(encodeCheckpoint(cp), edits);
        try {
          const back = decodeCheckpoint(bytes, 'fuzz');
          for (const t of back.weights) expect(t.every(Number.isFinite)).toBe(true);
        } catch (err) {
          onlyCheckpointErrors(err);
        }
      }),
      params('byte mutations'),
    );
  });

  it('any JSON header (nulls, wrong types, missing fields) only throws CheckpointFormatError', () => {
    const headerArb = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc
        .tuple(
          checkpointArb,
          fc.constantFrom('spec', 'preprocessing', 'step', 'next', 'run', 'partialEpoch', 'epochs'),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .map(([cp, field, value]) => {
          const bytes = encodeCheckpoint(cp);
          const length = new DataView(bytes.buffer).getUint32(8, true);
          const h = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
          h[field] = value;
          return h;
        }),
    );
    fc.assert(
      fc.property(headerArb, (header) => {
        const json = new TextEncoder().encode(JSON.stringify(header) ?? 'null');
        const bytes = new Uint8Array(12 + ((json.length + 3) & ~3) + 64);
        bytes.set([0x4c, 0x4e, 0x4d, 0x43, 1, 0, 0, 0]);
        new DataView(bytes.buffer).setUint32(8, json.length, true);
        bytes.set(json, 12);
        try {
          decodeCheckpoint(bytes);
        } catch (err) {
          onlyCheckpointErrors(err);
        }
      }),
      params('JSON headers'),
    );
  });
});
