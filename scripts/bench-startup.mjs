// Startup: time from `import('lenet-mnist')` to the first prediction with the pretrained model
// (loadPretrained + createPredictor + predict), in fresh Node processes and fresh headless
// Chromium pages importing the browser build. Medians over --rounds (default 7) of each.
//
//   node scripts/bench-startup.mjs [--dist dist] [--rounds 7] [--no-browser] [--baseline DIR]
//
// --baseline DIR (another build, e.g. of an older commit) adds its Node figures, measured in the
// same rounds, alternating which build starts first, with the ratios of the medians.
//
// Node phases, in the order an app meets them (the explicit initBackend() is what
// createPredictor would otherwise do first):
//   import          import('lenet-mnist') (dist/index.js): module graph load and evaluation
//   backend init    initBackend(): tfjs-backend-wasm started (its .wasm read and compiled)
//   weights decode  loadPretrained(): the weights file read, checked and decoded
//   kernels         createPredictor(): the fused kernels' .wasm compiled and instantiated,
//                   the weights copied in
//   first predict   predict() of one 28x28 digit
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median, parseArgs, ROOT } from './bench-lib.mjs';

const args = parseArgs(process.argv.slice(2));
const dist = resolve(ROOT, args.dist ?? 'dist');
const rounds = Number(args.rounds ?? 7);
if (!existsSync(join(dist, 'index.js'))) {
  console.error(`no build in ${dist}: run npm run build first`);
  process.exit(2);
}

const PHASES = ['import', 'backend init', 'weights decode', 'kernels', 'first predict'];

// One fresh process per round: everything a first prediction costs, nothing cached in memory.
const childScript = (dir) => `
const mark = () => performance.now();
const t = [mark()];
const lib = await import(${JSON.stringify(pathToFileURL(join(dir, 'index.js')).href)});
t.push(mark());
await lib.initBackend();
t.push(mark());
const model = await lib.loadPretrained();
t.push(mark());
const predictor = await lib.createPredictor(model);
t.push(mark());
const { label } = await predictor.predict(new Uint8Array(784).fill(0).map((_, i) => (i % 28 > 10 && i % 28 < 16 ? 255 : 0)));
t.push(mark());
console.log('STARTUP ' + JSON.stringify({
  phases: t.slice(1).map((v, i) => v - t[i]),
  processStart: t[0],
  label,
  path: predictor.path,
  engine: model.engine,
}));
`;

function nodeRound(dir) {
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', childScript(dir)], {
    encoding: 'utf8',
  });
  const line = out.stdout.split('\n').find((l) => l.startsWith('STARTUP '));
  if (!line) throw new Error(`node startup run failed:\n${out.stderr}`);
  return JSON.parse(line.slice('STARTUP '.length));
}

const TYPES = {
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.html': 'text/html',
};

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
const t0 = performance.now();
const lib = await import('/dist/browser.js');
const t1 = performance.now();
const model = await lib.loadPretrained();
const predictor = await lib.createPredictor(model);
const { label } = await predictor.predict(new Uint8Array(784));
const t2 = performance.now();
window.startup = { import: t1 - t0, total: t2 - t0, sinceNavigation: t2, path: predictor.path, label };
</script>`;

/** Serves dist/ under /dist/ and the page at /. */
function serve() {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(PAGE);
      return;
    }
    const file = resolve(dist, `.${url.pathname.replace(/^\/dist/, '')}`);
    if (!file.startsWith(dist) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

async function browserRounds() {
  const { chromium } = await import('playwright-core');
  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const results = [];
  try {
    for (let r = 0; r < rounds; r++) {
      // A fresh context per round: no HTTP cache, no compiled-code cache from earlier rounds.
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(base);
      await page
        .waitForFunction(() => window.startup !== undefined, null, { timeout: 60_000 })
        .catch(() => {
          throw new Error(`page did not finish: ${errors.join('; ')}`);
        });
      results.push(await page.evaluate(() => window.startup));
      await context.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
  return results;
}

const fmt = (v) => v.toFixed(1).padStart(8);
console.log(
  `startup to first prediction, medians of ${rounds} fresh processes/pages; ${cpus().length} cores, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}, node ${process.version}, ${dist}`,
);
const baseline = args.baseline ? resolve(ROOT, args.baseline) : undefined;
const builds = baseline ? { baseline, this: dist } : { this: dist };
const runs = Object.fromEntries(Object.keys(builds).map((name) => [name, []]));
for (let r = 0; r < rounds; r++) {
  const names = Object.keys(builds);
  for (const name of r % 2 === 0 ? names : names.reverse())
    runs[name].push(nodeRound(builds[name]));
}
const medians = {};
for (const [name, node] of Object.entries(runs)) {
  console.log(
    `\nNode, ${name} build (${node[0].path} path, ${node[0].engine?.variant ?? '-'})    median ms`,
  );
  const phase = PHASES.map((_, i) => median(node.map((r) => r.phases[i])));
  PHASES.forEach((label, i) => {
    console.log(`  ${label.padEnd(16)}${fmt(phase[i])}`);
  });
  const totals = node.map((r) => r.phases.reduce((a, b) => a + b, 0));
  medians[name] = { import: phase[0], total: median(totals) };
  console.log(
    `  ${'import -> first'.padEnd(16)}${fmt(medians[name].total)}   (min ${Math.min(...totals).toFixed(1)}, max ${Math.max(...totals).toFixed(1)})`,
  );
  console.log(
    `  ${'+ node boot'.padEnd(16)}${fmt(median(node.map((r) => r.processStart)))}   (process start to the import call)`,
  );
}
if (baseline) {
  const ratio = (k) => (medians.this[k] / medians.baseline[k]).toFixed(3);
  console.log(`\nthis/baseline: import ${ratio('import')}, import -> first ${ratio('total')}`);
}

if (!args['no-browser']) {
  const page = await browserRounds();
  console.log(`\nChromium (headless, ${page[0].path} path)    median ms`);
  console.log(`  ${'import'.padEnd(16)}${fmt(median(page.map((r) => r.import)))}`);
  console.log(`  ${'import -> first'.padEnd(16)}${fmt(median(page.map((r) => r.total)))}`);
  console.log(
    `  ${'+ navigation'.padEnd(16)}${fmt(median(page.map((r) => r.sinceNavigation)))}   (navigation start to first prediction)`,
  );
}
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
