/**
 * The HTML API reference (issue 21): `npm run docs` builds it with TypeDoc (typedoc.json) into
 * docs/site, searchable. This test builds it into a temporary folder and checks it against the
 * package entries' exports (".", and the subpaths) as the TypeScript compiler lists them: every export has a page, with
 * its description and an example, and is in the search index.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const site = mkdtempSync(join(tmpdir(), 'lenet-docs-'));

/** Where TypeDoc puts the page of each kind of export. */
type Folder = 'functions' | 'classes' | 'interfaces' | 'types' | 'variables' | 'enums';

interface Export {
  name: string;
  folder: Folder;
  /** The entry that exports it: TypeDoc's module name (`index` is the package's "."). */
  module: string;
}

/** The package's entries (typedoc.json's entryPoints), by TypeDoc's module name. */
const ENTRIES: Record<string, string> = {
  index: 'src/index.ts',
  data: 'src/data/index.ts',
  interop: 'src/interop/index.ts',
  schedules: 'src/schedules.ts',
};

/** The exports of every entry (".", and the subpaths), with the folder of their page. */
function packageExports(): Export[] {
  return Object.entries(ENTRIES).flatMap(([module, path]) => entryExports(module, path));
}

function entryExports(module: string, path: string): Export[] {
  const entry = join(root, path);
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: () => {},
    },
  );
  if (config === undefined) throw new Error('tsconfig.json cannot be read');
  const program = ts.createProgram([entry], config.options);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (moduleSymbol === undefined) throw new Error(`${path} has no module symbol`);
  return checker.getExportsOfModule(moduleSymbol).map((exported) => {
    const symbol =
      exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const f = symbol.flags;
    const folder: Folder =
      f & ts.SymbolFlags.Class
        ? 'classes'
        : f & ts.SymbolFlags.Function
          ? 'functions'
          : f & ts.SymbolFlags.Interface
            ? 'interfaces'
            : f & ts.SymbolFlags.Enum
              ? 'enums'
              : f & ts.SymbolFlags.TypeAlias
                ? 'types'
                : 'variables';
    return { name: exported.name, folder, module };
  });
}

let exports: Export[] = [];

beforeAll(async () => {
  exports = packageExports();
  await run(
    process.execPath,
    [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', site, '--logLevel', 'Error'],
    { cwd: root, maxBuffer: 1 << 26 },
  );
}, 180_000);

afterAll(() => {
  rmSync(site, { recursive: true, force: true });
});

/**
 * The page of an export, or undefined: TypeDoc names pages `<module>.<name>.html`, and gives an
 * item that two entries export (`parseIdx` in "." and `lenet-mnist/data`) one page, under the
 * first entry.
 */
function page(e: Export): string | undefined {
  for (const module of [e.module, ...Object.keys(ENTRIES)]) {
    const path = join(site, e.folder, `${module}.${e.name}.html`);
    if (existsSync(path)) return readFileSync(path, 'utf8');
  }
  return undefined;
}

describe('the HTML API reference (TypeDoc)', () => {
  test('lists every entry (a sanity check on the export list)', () => {
    expect(exports.length).toBeGreaterThan(150);
    for (const module of Object.keys(ENTRIES)) {
      expect(exports.filter((e) => e.module === module).length, module).toBeGreaterThan(3);
    }
    const names = exports.filter((e) => e.module === 'index').map((e) => e.name);
    for (const name of [
      'train',
      'trainInWorker',
      'saveModelToIndexedDB',
      'loadModelFromIndexedDB',
      'weightsDownloadUrl',
      'TrainWorkerError',
      'OptionError',
      'TrainOptions',
    ]) {
      expect(names).toContain(name);
    }
  });

  test('every export has a page', () => {
    const missing = exports
      .filter((e) => page(e) === undefined)
      .map((e) => `${e.module}: ${e.folder}/${e.name}`);
    expect(missing, `exports without a page:\n  ${missing.join('\n  ')}`).toEqual([]);
  });

  test('every page has the description and an example', () => {
    const problems: string[] = [];
    for (const e of exports) {
      const html = page(e);
      if (html === undefined) continue;
      // TypeDoc renders the summary as a tsd-comment block, and `@example` as an "Example"
      // heading with the code below it.
      const comment = /<div class="tsd-comment tsd-typography">([\s\S]*?)<\/div>/.exec(html);
      if (comment === null || comment[1]?.replace(/<[^>]+>/g, '').trim() === '') {
        problems.push(`${e.name}: no description`);
      }
      if (!/id="example"/.test(html) || !/<pre><code/.test(html)) {
        problems.push(`${e.name}: no example`);
      }
    }
    expect(problems, `pages lacking parts:\n  ${problems.join('\n  ')}`).toEqual([]);
  });

  test('the site is searchable: every export is in the search index', () => {
    const script = readFileSync(join(site, 'assets', 'search.js'), 'utf8');
    const data = /window\.searchData = "([^"]+)"/.exec(script)?.[1];
    expect(data).toBeDefined();
    const index = inflateSync(Buffer.from(data as string, 'base64')).toString('utf8');
    const missing = exports.filter((e) => !index.includes(`"${e.name}"`)).map((e) => e.name);
    expect(missing, `not in the search index: ${missing.join(', ')}`).toEqual([]);
  });
});
