import { FileTooLargeError, type ReadFileOptions } from './types.js';

/**
 * The one home of byte helpers: joins `chunks` (their lengths summing to `length`) into one
 * array, without a copy when there is a single chunk of that length.
 */
export function concatBytes(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]?.length === length) return chunks[0];
  const out = new Uint8Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/**
 * GETs a URL with `fetch` (Node, Deno, Bun and browsers alike), honouring the signal and the
 * size limit: up front from `content-length`, then chunk by chunk, so an endless or lying
 * response stops at `maxBytes`.
 *
 * @throws {@link FileTooLargeError} past `maxBytes`; `Error` for an HTTP error status.
 */
export async function fetchLimited(
  input: string | URL,
  options: ReadFileOptions = {},
): Promise<Uint8Array> {
  const { signal, maxBytes = Number.POSITIVE_INFINITY } = options;
  const url = String(input);
  const res = await fetch(input, { signal });
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`GET ${url} failed: HTTP ${res.status}`);
  }
  const length = Number(res.headers.get('content-length') ?? Number.NaN);
  if (length > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new FileTooLargeError(url, length, maxBytes);
  }
  // Without a limit there is nothing to check chunk by chunk: read it whole.
  if (!res.body || maxBytes === Number.POSITIVE_INFINITY) {
    return new Uint8Array(await res.arrayBuffer());
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new FileTooLargeError(url, undefined, maxBytes);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return concatBytes(chunks, total);
}
