// The build resolves `#platform` to node.ts (Node, Deno, Bun) or browser.ts (browsers).
import { platform } from '#platform';
import { NotRegularFileError, type ReadFileOptions } from './types.js';

export type { ByteCache, NavigatorGpuResult, Platform, WorkerHandle } from './types.js';
export { platform };

/**
 * A file of one of the library's formats, read whole by `platform.readFile` once its first
 * `head.bytes` passed `head.check`; devices, FIFOs and sockets are refused with the error that
 * `notFile` makes of the {@link NotRegularFileError}'s kind.
 */
export async function readFormatFile(
  path: string | URL,
  head: NonNullable<ReadFileOptions['head']>,
  notFile: (kind: string, err: NotRegularFileError) => Error,
): Promise<Uint8Array> {
  try {
    return await platform.readFile(path, { regularOnly: true, head });
  } catch (err) {
    if (err instanceof NotRegularFileError) throw notFile(err.kind, err);
    throw err;
  }
}
