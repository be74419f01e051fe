// The page server of webgpu-browser.test.ts: the test page, its bundled checks (page.ts) and
// dist/, plain or cross-origin isolated.
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(fileURLToPath(new URL('../..', import.meta.url)), 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.weights': 'application/octet-stream',
};

const PAGE_HTML = `<!doctype html>
<meta charset="utf-8">
<title>lenet-mnist WebGPU selection test</title>
<script type="module">
  import * as checks from './page.js';
  window.checks = checks;
  window.checksReady = true;
</script>`;

/**
 * Serves `/plain/...` and `/isolated/...` (with COOP/COEP) from memory and dist/, noting each
 * path asked for in `requested`.
 */
export async function startServer(pageJs: string, requested: string[]): Promise<Server> {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requested.push(url.pathname);
    const [, variant, ...rest] = url.pathname.split('/');
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
    if (variant === 'isolated') {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    const path = rest.join('/');
    // Files under hang/ never answer: a stalled CDN or server.
    if (path.startsWith('hang/')) return;
    try {
      let body: string | Buffer;
      let type: string;
      if (path === '' || path === 'index.html') {
        [body, type] = [PAGE_HTML, TYPES['.html'] as string];
      } else if (path === 'page.js') {
        [body, type] = [pageJs, TYPES['.js'] as string];
      } else if (path.startsWith('dist/')) {
        const file = normalize(join(dist, path.slice('dist/'.length)));
        if (!file.startsWith(dist + sep)) throw new Error('outside dist');
        body = await readFile(file);
        type = TYPES[extname(file)] ?? 'application/octet-stream';
      } else {
        throw new Error('not found');
      }
      res.writeHead(200, { ...headers, 'Content-Type': type });
      res.end(body);
    } catch {
      res.writeHead(404, headers);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
