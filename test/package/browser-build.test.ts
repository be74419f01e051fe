/**
 * The browser build must not depend on Node: bundling it for `platform: 'browser'` must not
 * resolve any Node built-in module, and its files must not import or require one. Needs
 * `npm run build` first (`npm test` runs it).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');
const browserEntry = join(dist, 'browser.js');
const nodeEntry = join(dist, 'index.js');
/** The browser build's files: its entries and its chunks (Node's are `node-*`, index, tfjs, cli). */
const isBrowserFile = (f: string) =>
  f.endsWith('.js') && (f === 'browser.js' || f.startsWith('browser-'));

const BUILTINS = new Set(builtinModules);
/** `fs`, `fs/promises`, `node:fs`, `node:test`, ... */
function isNodeBuiltin(specifier: string): boolean {
  if (specifier.startsWith('node:')) return true;
  return BUILTINS.has(specifier) || BUILTINS.has(specifier.split('/')[0] ?? '');
}

function requireBuild(file: string): void {
  if (!existsSync(file)) {
    throw new Error(
      `${file} is missing: run \`npm run build\` first (\`npm test\` builds before testing).`,
    );
  }
}

interface BuiltinUse {
  specifier: string;
  importer: string;
  kind: string;
  /** How esbuild resolves it for the browser without the check. */
  outcome: 'unresolvable' | 'disabled by a browser field' | 'resolved to a file';
}

/**
 * Bundles `entry` for browsers and records every Node built-in that anything in the graph
 * asks for. esbuild's own resolution then tells the real outcome: an error (a real Node
 * dependency), an empty module because a package's `browser` field maps it to `false` (fine,
 * e.g. tfjs-core's `util`), or a browser polyfill package.
 */
async function bundleForBrowser(entry: string) {
  const uses: BuiltinUse[] = [];
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    outdir: join(root, 'temp', 'browser-check'),
    platform: 'browser',
    format: 'esm',
    mainFields: ['browser', 'module', 'main'],
    metafile: true,
    logLevel: 'silent',
    plugins: [
      {
        name: 'record-node-builtins',
        setup(build) {
          build.onResolve({ filter: /.*/ }, async (args) => {
            if (args.pluginData === 'inner' || !isNodeBuiltin(args.path)) return undefined;
            const res = await build.resolve(args.path, {
              kind: args.kind,
              importer: args.importer,
              resolveDir: args.resolveDir,
              pluginData: 'inner',
            });
            const outcome =
              res.errors.length > 0
                ? 'unresolvable'
                : res.namespace === '' || res.path === args.path
                  ? 'disabled by a browser field'
                  : 'resolved to a file';
            uses.push({ specifier: args.path, importer: args.importer, kind: args.kind, outcome });
            // Keep going so that every offender is listed, not just the first.
            return outcome === 'unresolvable' ? { path: args.path, external: true } : undefined;
          });
        },
      },
    ],
  });
  const externals = Object.values(result.metafile.outputs).flatMap((o) =>
    o.imports.filter((i) => i.external),
  );
  return { uses, externals, inputs: Object.keys(result.metafile.inputs) };
}

/** The source of tfjs-backend-wasm's pthread worker, which the backend embeds as a string. */
function workerSourceRanges(text: string): [number, number][] {
  const ranges: [number, number][] = [];
  for (const m of text.matchAll(/wasmWorkerContents\s*=\s*(["'`])/g)) {
    const quote = m[1];
    const start = (m.index ?? 0) + m[0].length;
    let i = start;
    while (i < text.length && text[i] !== quote) i += text[i] === '\\' ? 2 : 1;
    ranges.push([start, i]);
  }
  return ranges;
}

const IMPORT_PATTERNS = [
  /\bfrom\s*["']([^"'\n]+)["']/g, // import/export ... from "x"
  /\bimport\s*\(\s*["']([^"'\n]+)["']\s*\)/g, // import("x")
  /\bimport\s*["']([^"'\n]+)["']/g, // import "x"
  /\brequire\s*\(\s*["']([^"'\n]+)["']\s*\)/g, // require("x")
];

describe('build output', () => {
  it('has a Node build and a browser build', () => {
    requireBuild(browserEntry);
    requireBuild(nodeEntry);
    expect(existsSync(join(dist, 'index.d.ts'))).toBe(true);
    expect(existsSync(join(dist, 'tfjs.d.ts'))).toBe(true);
    expect(readdirSync(dist).filter((f) => f.endsWith('.map'))).toEqual([]);
  });

  it('package.json exports and types point to existing files', () => {
    requireBuild(browserEntry);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: unknown;
      types?: string;
    };
    const targets: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (typeof node === 'string') targets.push(`${path} -> ${node}`);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) walk(v, `${path}.${k}`);
      }
    };
    walk(pkg.exports, 'exports');
    if (pkg.types) targets.push(`types -> ${pkg.types}`);
    expect(targets.length).toBeGreaterThan(0);
    const missing = targets.filter((t) => !existsSync(join(root, t.split(' -> ')[1] as string)));
    expect(missing, 'exports targets that do not exist').toEqual([]);
    // Browsers (and the default condition) get the browser build; Node, Deno and Bun the Node build.
    const dot = (pkg.exports as Record<string, Record<string, string>>)['.'];
    expect(dot).toEqual({
      types: './dist/index.d.ts',
      deno: './dist/index.js',
      bun: './dist/index.js',
      node: './dist/index.js',
      browser: './dist/browser.js',
      default: './dist/browser.js',
    });
  });
});

describe('the browser build has no Node dependency', () => {
  it('bundles dist/browser.js for browsers without resolving any Node built-in', async () => {
    requireBuild(browserEntry);
    const { uses, externals } = await bundleForBrowser(browserEntry);
    const tolerated = uses.filter((u) => u.outcome !== 'unresolvable');
    if (tolerated.length > 0) {
      console.log('Node built-ins mapped away for browsers (tolerated):', tolerated);
    }
    expect(uses.filter((u) => u.outcome === 'unresolvable')).toEqual([]);
    expect(externals.filter((i) => isNodeBuiltin(i.path))).toEqual([]);
  });

  it('the browser files of dist/ have no import or require of a Node built-in', () => {
    requireBuild(browserEntry);
    const offenders: string[] = [];
    const excused: string[] = [];
    const files = readdirSync(dist).filter(isBrowserFile);
    expect(files.length).toBeGreaterThan(2);
    for (const file of files) {
      const text = readFileSync(join(dist, file), 'utf8');
      const worker = workerSourceRanges(text);
      for (const pattern of IMPORT_PATTERNS) {
        for (const m of text.matchAll(pattern)) {
          const specifier = m[1] as string;
          if (!isNodeBuiltin(specifier)) continue;
          const at = m.index ?? 0;
          const where = `${file}@${at}: ${m[0]}`;
          // Known tfjs false positive: the pthread worker's source is a string literal that
          // only `require`s worker_threads/fs when that worker runs in Node
          // (ENVIRONMENT_IS_NODE); browsers load it in a Worker and never take that branch.
          if (worker.some(([a, b]) => at >= a && at < b)) excused.push(where);
          else offenders.push(where);
        }
      }
    }
    if (excused.length > 0) {
      console.log(
        "Inside tfjs-backend-wasm's embedded worker source (a string literal, Node-only branch):",
        excused,
      );
    }
    expect(offenders).toEqual([]);
  });

  it('catches Node built-ins (self-check of the checks above)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lenet-browser-check-'));
    try {
      const entry = join(dir, 'bad.js');
      const code = [
        "import { readFileSync } from 'node:fs';",
        "import { gunzipSync } from 'zlib';",
        "const path = require('path');",
        'export const f = [readFileSync, gunzipSync, path];',
      ].join('\n');
      writeFileSync(entry, code);
      const { uses } = await bundleForBrowser(entry);
      expect(uses.map((u) => `${u.specifier} ${u.outcome}`).sort()).toEqual([
        'node:fs unresolvable',
        'path unresolvable',
        'zlib unresolvable',
      ]);
      const found = IMPORT_PATTERNS.flatMap((p) => [...code.matchAll(p)].map((m) => m[1]));
      expect(found.filter((s) => s !== undefined && isNodeBuiltin(s)).sort()).toEqual([
        'node:fs',
        'path',
        'zlib',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the data layer bundles for browsers with the browser platform and no Node built-in', async () => {
    const { uses, inputs } = await bundleForBrowser(join(root, 'src', 'data', 'index.ts'));
    expect(uses).toEqual([]);
    expect(inputs).toContain('src/platform/browser.ts');
    expect(inputs).not.toContain('src/platform/node.ts');
    expect(inputs.filter((i) => i.includes('@tensorflow'))).toEqual([]);
  });
});
