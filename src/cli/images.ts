/** PNG and JPEG files as RGBA images for the predictor: pure JavaScript decoders, no native step. */
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { platform } from '../platform/index.js';
import { FileTooLargeError } from '../platform/types.js';
import type { ImageDataLike } from '../predict/image.js';
import {
  checkJpegHeader,
  checkPngHeader,
  ImageFileError,
  MAX_DECODE_BYTES,
  MAX_IMAGE_PIXELS,
} from './image-limits.js';

export { ImageFileError } from './image-limits.js';

/** Largest image file read: a PNG or JPEG within the pixel limit is far smaller. */
const MAX_FILE_BYTES = 64 * 2 ** 20;

/** Reads a PNG or JPEG file (told apart by content, not by name) as RGBA pixels. */
export async function readImageFile(path: string): Promise<ImageDataLike> {
  let bytes: Uint8Array;
  try {
    bytes = await platform.readFile(path, { maxBytes: MAX_FILE_BYTES, regularOnly: true });
  } catch (err) {
    if (err instanceof FileTooLargeError) {
      throw new ImageFileError(
        `${path}: larger than the ${MAX_FILE_BYTES / 2 ** 20} MiB an image file may be`,
      );
    }
    throw err;
  }
  return decodeImage(bytes, path);
}

/** Decodes PNG or JPEG bytes to RGBA. */
export function decodeImage(bytes: Uint8Array, name = 'image'): ImageDataLike {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47 && buf.readUInt32BE(4) === 0x0d0a1a0a) {
    // Dimensions, depth and colour type are checked before a byte is inflated.
    checkPngHeader(bytes, name);
    let png: { width: number; height: number; data: Buffer };
    try {
      png = pngjs.PNG.sync.read(buf);
    } catch (err) {
      throw new ImageFileError(`${name}: not a readable PNG (${describe(err)})`);
    }
    return {
      width: png.width,
      height: png.height,
      data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength),
    };
  }
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) {
    checkJpegHeader(bytes, name);
    try {
      const img = jpeg.decode(buf, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
        maxMemoryUsageInMB: MAX_DECODE_BYTES / 2 ** 20,
      });
      return { width: img.width, height: img.height, data: img.data };
    } catch (err) {
      throw new ImageFileError(`${name}: not a readable JPEG (${describe(err)})`);
    }
  }
  throw new ImageFileError(`${name}: not a PNG or JPEG file`);
}

/** A decoder's message, made readable (pngjs builds some from format strings it never fills). */
function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.includes('number 0x') || message.trim() === '' ? 'its data is damaged' : message;
}
