/**
 * Text renderings of a digit for terminals and logs.
 *
 * @module
 */

/**
 * Options of `formatDigitHex`.
 *
 * @example
 * ```ts
 * formatDigitHex(pixels, 28, 28, { color: process.stdout.isTTY });
 * ```
 */
export interface HexFormatOptions {
  /** Wrap non-zero pixels in ANSI red (`\x1b[31m ... \x1b[0m`). Default: `false`. */
  color?: boolean;
}

/**
 * Options of {@link formatDigitAscii}.
 *
 * @example
 * ```ts
 * formatDigitAscii(pixels, 28, 28, { ramp: ' ░▒▓█' });
 * ```
 */
export interface AsciiFormatOptions {
  /** Characters from darkest (pixel 0) to brightest (255). Default: `' .:-=+*#%@'`. */
  ramp?: string;
}

const RED = '\x1b[31m';
const RESET = '\x1b[0m';
const hex2 = (b: number) => b.toString(16).padStart(2, '0');

/**
 * The cell of each pixel value: `int(v * 100)` for `v = pixel / 255` in float32 (as a float32
 * tensor after `ToTensor()`), packed as a little-endian uint16 and written in hex.
 */
const HEX_CELLS: readonly string[] = Array.from({ length: 256 }, (_, p) => {
  const c = Math.trunc(Math.fround(Math.fround(p / 255) * 100));
  return hex2(c & 0xff) + hex2(c >>> 8);
});

function checkImage(pixels: Uint8Array, width: number, height: number): void {
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  if (pixels.length < width * height) {
    throw new RangeError(
      `pixels has ${pixels.length} entries, expected ${width} x ${height} = ${width * height}`,
    );
  }
}

/**
 * Prints a digit the way the PyTorch reference prints its first training image: one line per
 * row; each pixel `v = pixel / 255` becomes `int(v * 100)` packed as a little-endian uint16 in
 * hex (1.0 → 100 → `"6400"`, 0 → `"0000"`), cells separated by a space; the matrix is framed
 * by lines of `=` as wide as a row. With `color`, cells of non-zero pixels are red (including
 * faint pixels whose cell reads `"0000"`).
 *
 * @param pixels - `height * width` uint8 pixels, row-major.
 * @returns The lines joined with `\n`, without a trailing newline.
 * @throws `RangeError` if `width` or `height` is not a positive integer or `pixels` is too short.
 *
 * @example
 * ```ts
 * console.log(formatDigitHex(imageAt(mnist.train, 0), 28, 28, { color: process.stdout.isTTY }));
 * ```
 */
export function formatDigitHex(
  pixels: Uint8Array,
  width: number,
  height: number,
  options: HexFormatOptions = {},
): string {
  checkImage(pixels, width, height);
  const color = options.color ?? false;
  const frame = '='.repeat(width * 5 - 1);
  const lines = [frame];
  const cells: string[] = new Array(width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = pixels[y * width + x] as number;
      const cell = HEX_CELLS[p] as string;
      cells[x] = color && p !== 0 ? RED + cell + RESET : cell;
    }
    lines.push(cells.join(' '));
  }
  lines.push(frame);
  return lines.join('\n');
}

/**
 * Draws a digit as ASCII art, one character per pixel: pixel `p` becomes
 * `ramp[floor(p * ramp.length / 256)]`, so 0 maps to the first character and 255 to the last.
 *
 * @param pixels - `height * width` uint8 pixels, row-major.
 * @param options - `ramp`: darkest to brightest characters (default `' .:-=+*#%@'`).
 * @returns The rows joined with `\n`, without a trailing newline.
 * @throws `RangeError` if `width` or `height` is not a positive integer, `pixels` is too short,
 *   or `ramp` is empty.
 *
 * @example
 * ```ts
 * console.log(formatDigitAscii(imageAt(mnist.test, 0), 28, 28));
 * ```
 */
export function formatDigitAscii(
  pixels: Uint8Array,
  width: number,
  height: number,
  options: AsciiFormatOptions = {},
): string {
  checkImage(pixels, width, height);
  const chars = Array.from(options.ramp ?? ' .:-=+*#%@');
  if (chars.length === 0) throw new RangeError('ramp must not be empty');
  const lookup = Array.from(
    { length: 256 },
    (_, p) => chars[Math.floor((p * chars.length) / 256)] as string,
  );
  const rows: string[] = [];
  for (let y = 0; y < height; y++) {
    let row = '';
    for (let x = 0; x < width; x++) row += lookup[pixels[y * width + x] as number];
    rows.push(row);
  }
  return rows.join('\n');
}
