/** PNG and JPEG files as RGBA images for the predictor: pure JavaScript decoders, no native step. */
import { readFile } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import type { ImageDataLike } from '../predict/input.js';

/** A file that is not a PNG or JPEG image, or one that does not decode. */
export class ImageFileError extends Error {
  override name = 'ImageFileError';
}

/** The largest image decoded: 2^26 pixels, as the predictor accepts (e.g. 8192 x 8192). */
const MAX_PIXELS = 2 ** 26;

/** Reads a PNG or JPEG file (told apart by content, not by name) as RGBA pixels. */
export async function readImageFile(path: string): Promise<ImageDataLike> {
  const bytes = await readFile(path);
  return decodeImage(bytes, path);
}

/** Decodes PNG or JPEG bytes to RGBA. */
export function decodeImage(bytes: Uint8Array, name = 'image'): ImageDataLike {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47 && buf.readUInt32BE(4) === 0x0d0a1a0a) {
    let png: { width: number; height: number; data: Buffer };
    try {
      png = pngjs.PNG.sync.read(buf);
    } catch (err) {
      throw new ImageFileError(`${name}: not a readable PNG (${(err as Error).message})`);
    }
    return {
      width: png.width,
      height: png.height,
      data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength),
    };
  }
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) {
    try {
      const img = jpeg.decode(buf, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_PIXELS / 1e6,
        maxMemoryUsageInMB: 1024,
      });
      return { width: img.width, height: img.height, data: img.data };
    } catch (err) {
      throw new ImageFileError(`${name}: not a readable JPEG (${(err as Error).message})`);
    }
  }
  throw new ImageFileError(`${name}: not a PNG or JPEG file`);
}
