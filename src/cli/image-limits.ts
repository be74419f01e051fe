/**
 * What a PNG or JPEG declares about its size, read from its header before anything is
 * decoded, and the limits the CLI's decoders hold it to: a file that would need more than
 * these is refused without inflating a byte.
 */
import { LenetMnistError } from '../errors.js';

/** A file that is not a PNG or JPEG image, one that does not decode, or one over the limits. */
export class ImageFileError extends LenetMnistError {}

/** Largest image decoded: 2^24 pixels (e.g. 4096 x 4096, a 16-megapixel photo). */
export const MAX_IMAGE_PIXELS = 2 ** 24;
/**
 * Largest working memory a decode may need, estimated from the header before decoding: the
 * inflated rows (twice: pngjs keeps the filtered and unfiltered copies) plus the RGBA result.
 */
export const MAX_DECODE_BYTES = 2 ** 27;

/** A PNG's IHDR. */
export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

const PNG_CHANNELS: Record<number, { channels: number; depths: readonly number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};

const fmt = (n: number) => n.toLocaleString('en-US');

/**
 * Reads and checks a PNG's IHDR (the first chunk, as the format requires): its dimensions, bit
 * depth and colour type, against {@link MAX_IMAGE_PIXELS} and {@link MAX_DECODE_BYTES}.
 *
 * @throws {@link ImageFileError} naming the file and what is wrong.
 */
export function checkPngHeader(bytes: Uint8Array, name: string): PngHeader {
  const fail = (msg: string): never => {
    throw new ImageFileError(`${name}: ${msg}`);
  };
  if (bytes.length < 33) fail(`a truncated PNG (${bytes.length} bytes; its header needs 33)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = String.fromCharCode(...bytes.subarray(12, 16));
  if (view.getUint32(8) !== 13 || type !== 'IHDR')
    fail('a damaged PNG: its first chunk is not a 13-byte IHDR');
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const bitDepth = bytes[24] as number;
  const colorType = bytes[25] as number;
  const interlace = bytes[28] as number;
  if (width === 0 || height === 0 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1)
    fail(`a damaged PNG: it declares ${width} x ${height} pixels`);
  const kind = PNG_CHANNELS[colorType];
  if (kind === undefined) fail(`a damaged PNG: colour type ${colorType} does not exist`);
  const { channels, depths } = kind as { channels: number; depths: readonly number[] };
  if (!depths.includes(bitDepth))
    fail(`a damaged PNG: bit depth ${bitDepth} is not allowed with colour type ${colorType}`);
  if (bytes[26] !== 0 || bytes[27] !== 0 || interlace > 1)
    fail('a damaged PNG: unknown compression, filter or interlace method');
  checkPixels(name, 'PNG', width, height);
  // Inflated rows: one filter byte each; Adam7 interlacing adds at most 7 passes' filter bytes.
  const rowBytes = 1 + Math.ceil((width * channels * bitDepth) / 8);
  const raw = height * rowBytes + (interlace === 1 ? 7 * height : 0);
  const needed = 2 * raw + 4 * width * height;
  if (needed > MAX_DECODE_BYTES) {
    fail(
      `a ${width} x ${height} PNG of ${bitDepth}-bit ${channels}-channel pixels needs about ${fmt(Math.ceil(needed / 2 ** 20))} MiB to decode, more than the ${MAX_DECODE_BYTES / 2 ** 20} MiB limit`,
    );
  }
  return { width, height, bitDepth, colorType, interlaced: interlace === 1 };
}

/** A JPEG's frame header (SOF). */
export interface JpegHeader {
  width: number;
  height: number;
  components: number;
}

/** Start-of-frame markers: 0xC0-0xCF except DHT (C4), JPG (C8) and DAC (CC). */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/**
 * Walks a JPEG's marker segments to its frame header (SOF) and checks the dimensions it declares
 * against {@link MAX_IMAGE_PIXELS} and {@link MAX_DECODE_BYTES}, before any entropy decoding.
 *
 * @throws {@link ImageFileError} naming the file and what is wrong.
 */
export function checkJpegHeader(bytes: Uint8Array, name: string): JpegHeader {
  const fail = (msg: string): never => {
    throw new ImageFileError(`${name}: ${msg}`);
  };
  let p = 2; // after SOI
  for (;;) {
    // Markers may be preceded by fill bytes (0xFF).
    if (p >= bytes.length || bytes[p] !== 0xff)
      fail(`a damaged JPEG: no marker at offset ${p} (before its frame header)`);
    while (bytes[p] === 0xff) p++;
    if (p >= bytes.length) fail('a truncated JPEG: it ends before its frame header');
    const marker = bytes[p++] as number;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9 || marker === 0xda) fail('a damaged JPEG: it has no frame header (SOF)');
    if (p + 2 > bytes.length) fail('a truncated JPEG: it ends before its frame header');
    const length = ((bytes[p] as number) << 8) | (bytes[p + 1] as number);
    if (length < 2 || p + length > bytes.length)
      fail(`a truncated JPEG: segment 0xFF${marker.toString(16).toUpperCase()} overruns the file`);
    if (isSof(marker)) {
      if (length < 8) fail('a damaged JPEG: its frame header is too short');
      const height = ((bytes[p + 3] as number) << 8) | (bytes[p + 4] as number);
      const width = ((bytes[p + 5] as number) << 8) | (bytes[p + 6] as number);
      const components = bytes[p + 7] as number;
      if (width === 0 || height === 0)
        fail(`a JPEG that declares ${width} x ${height} pixels (a zero side is not supported)`);
      if (components < 1 || components > 4) fail(`a damaged JPEG: ${components} colour components`);
      checkPixels(name, 'JPEG', width, height);
      // jpeg-js: the component planes (each padded to whole blocks) and the RGBA result.
      const needed = width * height * (4 + components * 2);
      if (needed > MAX_DECODE_BYTES) {
        fail(
          `a ${width} x ${height} JPEG of ${components} components needs about ${fmt(Math.ceil(needed / 2 ** 20))} MiB to decode, more than the ${MAX_DECODE_BYTES / 2 ** 20} MiB limit`,
        );
      }
      return { width, height, components };
    }
    p += length;
  }
}

function checkPixels(name: string, format: string, width: number, height: number): void {
  const pixels = width * height;
  if (pixels > MAX_IMAGE_PIXELS) {
    throw new ImageFileError(
      `${name}: a ${format} of ${fmt(width)} x ${fmt(height)} pixels (${fmt(pixels)}), more than the ${fmt(MAX_IMAGE_PIXELS)} pixels this decoder accepts (e.g. 4096 x 4096); shrink it first`,
    );
  }
}
