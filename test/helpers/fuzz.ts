import fc from 'fast-check';

/**
 * Cases per property: `FUZZ_RUNS` (the campaign script sets it), else a count that keeps each
 * property file to a few seconds on a loaded 2-core machine. `FUZZ_SEED` replays a failure.
 */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

/** Case counts per property, printed at the end of each file (the campaign script sums them). */
export const counted = new Map<string, number>();

export function params(name: string): fc.Parameters<unknown> {
  return {
    numRuns: RUNS,
    ...(seed === undefined ? {} : { seed }),
    reporter: (details) => {
      counted.set(name, (counted.get(name) ?? 0) + details.numRuns);
      if (details.failed) throw new Error(fc.defaultReportMessage(details));
    },
  } as fc.Parameters<unknown>;
}

export function report(file: string): void {
  const total = [...counted.values()].reduce((a, b) => a + b, 0);
  console.log(
    `FUZZ ${file}: ${total} cases (${[...counted].map(([k, v]) => `${k} ${v}`).join(', ')})`,
  );
}

/** Applies a list of edits to a copy of `bytes`: overwrite, delete, insert, truncate. */
export type Edit =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'truncate'; at: number }
  | { kind: 'u32'; at: number; value: number };

export const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 16 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  // Big-endian or little-endian 32-bit fields (dimensions, lengths) set to anything.
  fc.record({
    kind: fc.constant('u32' as const),
    at: fc.nat(),
    value: fc.nat({ max: 0xffffffff }),
  }),
);

export function applyEdits(bytes: Uint8Array, edits: readonly Edit[]): Uint8Array {
  let out = bytes.slice();
  for (const e of edits) {
    const at = out.length === 0 ? 0 : e.at % (out.length + 1);
    if (e.kind === 'set' && at < out.length) out[at] = e.value;
    else if (e.kind === 'delete')
      out = new Uint8Array([...out.subarray(0, at), ...out.subarray(at + e.count)]);
    else if (e.kind === 'insert')
      out = new Uint8Array([...out.subarray(0, at), ...e.bytes, ...out.subarray(at)]);
    else if (e.kind === 'truncate') out = out.slice(0, at);
    else if (e.kind === 'u32' && at + 4 <= out.length) {
      new DataView(out.buffer).setUint32(at, e.value, (e.at & 1) === 1);
    }
  }
  return out;
}
