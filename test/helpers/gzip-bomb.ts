import { gzipSync } from 'node:zlib';

/**
 * A gzip bomb: an IDX header claiming `[10, 28, 28]` uint8 images (7,856 bytes in all), then
 * `inflatedBytes` of zeros. Built from concatenated gzip members (valid gzip: decoders inflate
 * every member), one small member for the header and one 16 MiB member of zeros repeated, so
 * making 2 GiB costs one 16 MiB compression (~30 ms) and ~2 MB of memory.
 */
export function gzipBomb(inflatedBytes = 2 ** 31): Uint8Array {
  const header = new Uint8Array(16);
  header[2] = 0x08; // uint8
  header[3] = 3; // dimensions
  const view = new DataView(header.buffer);
  view.setUint32(4, 10);
  view.setUint32(8, 28);
  view.setUint32(12, 28);
  const piece = 16 * 2 ** 20;
  const zeros = gzipSync(new Uint8Array(piece), { level: 9 });
  const parts: Uint8Array[] = [gzipSync(header)];
  for (let n = 0; n < inflatedBytes; n += piece) parts.push(zeros);
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * Peak RSS growth while `fn` runs, in bytes: the larger of the kernel's peak (when `fn` raised
 * it) and an RSS sample taken every millisecond, over the RSS just before.
 */
export async function peakRssGrowth(fn: () => Promise<unknown>): Promise<number> {
  const before = process.memoryUsage().rss;
  const maxBefore = process.resourceUsage().maxRSS * 1024;
  let sampled = before;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage().rss);
  }, 1);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  sampled = Math.max(sampled, process.memoryUsage().rss);
  const maxAfter = process.resourceUsage().maxRSS * 1024;
  const kernelPeak = maxAfter > maxBefore ? maxAfter : before;
  return Math.max(kernelPeak, sampled) - before;
}
