import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError, toGrayDigit } from '../../src/predict/input.js';
import { params, report } from '../helpers/fuzz.js';

const floatArray = (length: fc.Arbitrary<number>) =>
  length.chain((n) =>
    fc
      .tuple(fc.float(), fc.float({ min: 0, max: 1, noNaN: true }))
      .map(([odd, v]) => Float32Array.from({ length: n }, (_, i) => (i === n - 1 ? odd : v))),
  );

const side = fc.constantFrom(784, 1024);
const anyLength = fc.oneof(side, fc.integer({ min: 0, max: 2000 }));

/** RGBA-like objects: right or wrong sizes, types and data lengths. */
const rgbaLike = fc
  .record({
    width: fc.oneof(fc.integer({ min: -2, max: 40 }), fc.double(), fc.anything()),
    height: fc.oneof(fc.integer({ min: -2, max: 40 }), fc.double(), fc.anything()),
    extra: fc.integer({ min: -2, max: 2 }),
    kind: fc.constantFrom('clamped', 'u8', 'f32', 'array', 'other'),
    fill: fc.integer({ min: 0, max: 255 }),
  })
  .map(({ width, height, extra, kind, fill }) => {
    const w = Number.isInteger(width) ? (width as number) : 3;
    const h = Number.isInteger(height) ? (height as number) : 3;
    const n = Math.max(0, Math.min(w * h * 4 + extra, 40 * 40 * 4 + 2));
    const data =
      kind === 'clamped'
        ? new Uint8ClampedArray(n).fill(fill)
        : kind === 'u8'
          ? new Uint8Array(n).map((_, i) => (i * fill) & 0xff)
          : kind === 'f32'
            ? new Float32Array(n)
            : kind === 'array'
              ? new Array(n).fill(fill)
              : { length: n };
    return { data, width, height };
  });

const inputArb = fc.oneof(
  anyLength.map((n) => new Uint8Array(n).map((_, i) => (i * 7) & 0xff)),
  anyLength.map((n) => new Uint8ClampedArray(n)),
  floatArray(anyLength),
  anyLength.map((n) => new Int8Array(n)),
  anyLength.map((n) => new Array(n)),
  rgbaLike,
  fc.anything(),
);

const optionsArb = fc.oneof(
  fc.record(
    {
      invert: fc.oneof(fc.boolean(), fc.constant('auto'), fc.anything()),
      frame: fc.oneof(fc.boolean(), fc.anything()),
    },
    { requiredKeys: [] },
  ),
  fc.anything(),
);

function checkDigit(out: { pixels: Uint8Array; side: number }): void {
  expect([28, 32]).toContain(out.side);
  expect(out.pixels).toBeInstanceOf(Uint8Array);
  expect(out.pixels.length).toBe(out.side * out.side);
}

function onlyInputErrors(err: unknown): void {
  if (!(err instanceof InputError)) throw err;
}

afterAll(() => report('input'));

describe('predictor input properties', () => {
  it('toGrayDigit: any input and options give a 28x28/32x32 uint8 digit or InputError', () => {
    fc.assert(
      fc.property(inputArb, optionsArb, (input, options) => {
        try {
          checkDigit(toGrayDigit(input as never, options as never));
        } catch (err) {
          onlyInputErrors(err);
        }
      }),
      params('toGrayDigit'),
    );
  });

  it('valid inputs always convert', () => {
    const valid = fc.oneof(
      side.map((n) => new Uint8Array(n)),
      floatArray(side).filter((a) => a.every((v) => v >= 0 && v <= 1)),
      fc
        .record({
          w: fc.integer({ min: 1, max: 40 }),
          h: fc.integer({ min: 1, max: 40 }),
          v: fc.nat(255),
        })
        .map(({ w, h, v }) => ({
          data: new Uint8ClampedArray(w * h * 4).fill(v),
          width: w,
          height: h,
        })),
    );
    const options = fc.record(
      { invert: fc.constantFrom(true, false, 'auto' as const), frame: fc.boolean() },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(valid, options, (input, opts) => checkDigit(toGrayDigit(input, opts))),
      params('valid inputs'),
    );
  });
});
