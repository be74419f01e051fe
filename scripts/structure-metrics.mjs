// Structure metrics of src/ (issue 22's acceptance figures), from the TypeScript AST:
//   - functions over a length limit in the given folders (nested functions counted in their
//     parent: only outermost function-likes are measured, from their first to their last line);
//   - import cycles between modules (type-only imports included: a circle is a circle);
//   - imports from src/train into src/predict;
//   - exports named by an entry's declaration file (default dist/index.d.ts; build first).
// Usage: node scripts/structure-metrics.mjs [--limit 80] [--folders train,cli,predict,engine]
//        [--dts dist/index.d.ts] [--json]
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const limit = Number(option('limit', '80'));
const folders = option('folders', 'train,cli,predict,engine').split(',');
const dtsPath = option('dts', 'dist/index.d.ts');
const root = resolve('src');

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return walk(path);
    return /\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [path] : [];
  });
}

const files = walk(root);
const sources = new Map(
  files.map((f) => [
    f,
    ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true),
  ]),
);

/** Outermost function-likes of a file: name, first line, line count. */
function functionsOf(sf) {
  const found = [];
  const visit = (node, className) => {
    const isFunction =
      ts.isFunctionDeclaration(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isConstructorDeclaration(node) ||
      ts.isGetAccessorDeclaration(node) ||
      ts.isSetAccessorDeclaration(node) ||
      ts.isArrowFunction(node) ||
      ts.isFunctionExpression(node);
    if (isFunction && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
      let name = node.name?.getText(sf);
      if (!name && ts.isVariableDeclaration(node.parent)) name = node.parent.name.getText(sf);
      if (!name && ts.isPropertyAssignment(node.parent)) name = node.parent.name.getText(sf);
      if (!name && ts.isPropertyDeclaration(node.parent)) name = node.parent.name.getText(sf);
      if (ts.isConstructorDeclaration(node)) name = 'constructor';
      found.push({
        name: `${className ? `${className}.` : ''}${name ?? '(anonymous)'}`,
        line: start,
        lines: end - start + 1,
      });
      return; // nested functions belong to this one
    }
    const cls = ts.isClassLike(node) ? (node.name?.getText(sf) ?? '(class)') : className;
    ts.forEachChild(node, (child) => visit(child, cls));
  };
  visit(sf, undefined);
  return found;
}

/** Resolved local imports (and re-exports) of a file. */
function importsOf(file, sf) {
  const out = [];
  for (const stmt of sf.statements) {
    const spec =
      (ts.isImportDeclaration(stmt) || ts.isExportDeclaration(stmt)) && stmt.moduleSpecifier
        ? stmt.moduleSpecifier.text
        : undefined;
    if (!spec?.startsWith('.') && spec !== '#platform') continue;
    const target =
      spec === '#platform'
        ? join(root, 'platform/node.ts')
        : resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    const candidates = [target, target.replace(/\.ts$/, '/index.ts')];
    const hit = candidates.find((c) => existsSync(c));
    if (hit) out.push(hit);
  }
  return out;
}

const rel = (f) => relative(resolve('.'), f);
const all = [];
for (const [file, sf] of sources) {
  for (const fn of functionsOf(sf)) all.push({ file: rel(file), ...fn });
}
const inFolders = all.filter((fn) => folders.some((d) => fn.file.startsWith(`src/${d}/`)));
const long = inFolders.filter((fn) => fn.lines > limit).sort((a, b) => b.lines - a.lines);
const over60 = all.filter((fn) => fn.lines > 60);

// Cycles: strongly connected components (Tarjan) of the import graph.
const graph = new Map(files.map((f) => [f, importsOf(f, sources.get(f))]));
const cycles = [];
{
  let index = 0;
  const stack = [];
  const meta = new Map();
  const strong = (v) => {
    meta.set(v, { index, low: index, on: true });
    index++;
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!meta.has(w)) {
        strong(w);
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).low);
      } else if (meta.get(w).on) {
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).index);
      }
    }
    if (meta.get(v).low === meta.get(v).index) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        meta.get(w).on = false;
        scc.push(rel(w));
      } while (w !== v);
      if (scc.length > 1) cycles.push(scc.sort());
    }
  };
  for (const f of files) if (!meta.has(f)) strong(f);
}

const trainToPredict = [...graph]
  .filter(([f]) => rel(f).startsWith('src/train/'))
  .flatMap(([f, deps]) =>
    deps.filter((d) => rel(d).startsWith('src/predict/')).map((d) => `${rel(f)} -> ${rel(d)}`),
  );

/** Exports named by a declaration file (aliases resolved by the type checker): values and types. */
function exportsOf(path) {
  if (!existsSync(path)) return undefined;
  const program = ts.createProgram([path], { noEmit: true, skipLibCheck: true });
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(path);
  const moduleSymbol = sf && checker.getSymbolAtLocation(sf);
  if (!moduleSymbol) return undefined;
  let values = 0;
  let types = 0;
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    if (target.flags & ts.SymbolFlags.Value) values++;
    else types++;
  }
  return { values, types, total: values + types };
}

const result = {
  files: files.length,
  lines: files.reduce((n, f) => n + readFileSync(f, 'utf8').split('\n').length - 1, 0),
  functions: all.length,
  functionsOver60: over60.length,
  limit,
  folders,
  functionsOverLimit: long.map((fn) => `${fn.file}:${fn.line} ${fn.name} ${fn.lines}`),
  cycles,
  trainImportsPredict: trainToPredict,
  rootExports: exportsOf(dtsPath),
};
if (args.includes('--json')) {
  console.log(JSON.stringify(result, null, 2));
} else {
  console.log(
    `src/: ${result.files} files, ${result.lines} lines; ${result.functions} functions, ${result.functionsOver60} over 60 lines`,
  );
  console.log(`functions over ${limit} lines in ${folders.join(', ')}: ${long.length}`);
  for (const line of result.functionsOverLimit) console.log(`  ${line}`);
  console.log(`import cycles: ${cycles.length}`);
  for (const c of cycles) console.log(`  ${c.join(' <-> ')}`);
  console.log(`src/train -> src/predict imports: ${trainToPredict.length}`);
  for (const line of trainToPredict) console.log(`  ${line}`);
  const r = result.rootExports;
  console.log(
    r
      ? `exports of ${dtsPath}: ${r.total} (${r.values} values, ${r.types} types)`
      : `${dtsPath}: not built`,
  );
}
