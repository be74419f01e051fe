/**
 * The documentation standard, checked on what users see: every export of the package entry has
 * TSDoc with a summary, and every function, class and constant has an `@example`.
 *
 * Runs API Extractor itself (on the built `dist/index.d.ts`, so after `npm run build`) and
 * reads the doc model it writes into a temporary folder: the test depends on no earlier
 * `npm run api`. Its `docComment`s are re-emitted by the TSDoc parser, so block tags such as
 * `@example` always start a line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let DOC_MODEL = '';
let tempDir = '';

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/index.d.ts'))) {
    throw new Error('dist/index.d.ts is missing: run `npm run build` first');
  }
  tempDir = await mkdtemp(join(tmpdir(), 'lenet-api-'));
  DOC_MODEL = join(tempDir, 'lenet-mnist.api.json');
  const configFile = join(ROOT, 'api-extractor.json');
  const configObject = ExtractorConfig.loadFile(configFile);
  // The repository's report check is `npm run api:check`; here only the doc model is wanted.
  configObject.apiReport = { ...configObject.apiReport, enabled: false };
  configObject.docModel = { enabled: true, apiJsonFilePath: DOC_MODEL };
  const config = ExtractorConfig.prepare({
    configObject,
    configObjectFullPath: configFile,
    packageJsonFullPath: join(ROOT, 'package.json'),
  });
  const result = Extractor.invoke(config, {
    localBuild: true,
    messageCallback: (m) => {
      m.handled = true;
    },
  });
  if (!existsSync(DOC_MODEL))
    throw new Error(`API Extractor wrote no doc model (${result.errorCount} errors)`);
}, 120_000);

afterAll(async () => {
  if (tempDir) await rm(tempDir, { recursive: true, force: true });
});

/** The part of an api-extractor doc model item this test reads. */
interface ApiItem {
  kind: string;
  name?: string;
  canonicalReference?: string;
  docComment?: string;
  overloadIndex?: number;
  members?: ApiItem[];
}

/** Top-level kinds held to the standard; `Namespace` (the re-exported `tf`) is tfjs' own. */
const DOCUMENTED_KINDS = new Set([
  'Function',
  'Class',
  'Interface',
  'TypeAlias',
  'Variable',
  'Enum',
]);
/** Kinds that must also show an example. */
const EXAMPLE_KINDS = new Set(['Function', 'Class', 'Variable']);

function loadExports(): ApiItem[] {
  const model = JSON.parse(readFileSync(DOC_MODEL, 'utf8')) as ApiItem;
  const entryPoint = model.members?.find((item) => item.kind === 'EntryPoint');
  if (!entryPoint?.members) throw new Error(`${DOC_MODEL} has no entry point`);
  return entryPoint.members;
}

/** A comment's lines without the `/**`, `*` and `*\/` decoration. */
function commentLines(docComment: string): string[] {
  return docComment
    .trim()
    .replace(/^\/\*\*/, '')
    .replace(/\*\/$/, '')
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, '').trimEnd());
}

/** The comment split at its tags (lines starting with `@name`, outside code fences). */
function sections(docComment: string | undefined): { summary: string; tags: Map<string, string> } {
  const tags = new Map<string, string>();
  let summary = '';
  let current: string | undefined;
  let inFence = false;
  for (const line of commentLines(docComment ?? '')) {
    if (line.trimStart().startsWith('```')) inFence = !inFence;
    const tag = inFence ? undefined : /^@([A-Za-z]+)\b\s*(.*)$/.exec(line);
    if (tag) {
      current = `@${tag[1]}`;
      tags.set(current, `${tags.get(current) ?? ''}${tag[2]}\n`);
    } else if (current) {
      tags.set(current, `${tags.get(current) ?? ''}${line}\n`);
    } else {
      summary += `${line}\n`;
    }
  }
  return { summary: summary.trim(), tags };
}

function label(item: ApiItem): string {
  const overload =
    item.overloadIndex && item.overloadIndex > 1 ? ` (overload ${item.overloadIndex})` : '';
  return `${item.kind} ${item.name ?? item.canonicalReference ?? '?'}${overload}`;
}

function report(problem: string, items: string[]): string {
  return `${items.length} exported API item(s) ${problem}:\n  - ${items.join('\n  - ')}\n`;
}

describe('API documentation (API Extractor doc model of dist/index.d.ts)', () => {
  it('covers the package entry', () => {
    const names = loadExports().map((item) => item.name);
    // A sanity check that the model is the package's and was parsed, so the checks below
    // cannot pass on an empty list.
    expect(names).toEqual(expect.arrayContaining(['train', 'loadMnist', 'createLeNet', 'Model']));
  });

  it('gives every exported function, class, interface, type alias and variable a summary', () => {
    const missing = loadExports()
      .filter((item) => DOCUMENTED_KINDS.has(item.kind))
      .filter((item) => sections(item.docComment).summary === '')
      .map(label);
    expect(missing, report('lack a TSDoc summary', missing)).toEqual([]);
  });

  it('gives every exported function, class and variable an @example', () => {
    const missing = loadExports()
      .filter((item) => EXAMPLE_KINDS.has(item.kind))
      .filter((item) => !sections(item.docComment).tags.get('@example')?.trim())
      .map(label);
    expect(missing, report('lack an @example', missing)).toEqual([]);
  });

  it('gives every member of exported interfaces and classes a summary', () => {
    const missing = loadExports()
      .filter((item) => item.kind === 'Interface' || item.kind === 'Class')
      .flatMap((item) =>
        (item.members ?? [])
          // Constructors of error classes are documented by their class.
          .filter((member) => member.kind !== 'Constructor')
          .filter((member) => sections(member.docComment).summary === '')
          .map((member) => `${item.name}.${member.name ?? member.kind}`),
      );
    expect(missing, report('have members without a TSDoc summary', missing)).toEqual([]);
  });
});
