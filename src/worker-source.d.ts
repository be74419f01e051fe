/**
 * `import source from './file.ts?worker-source'`: the file bundled with its imports into the
 * text of a function `(post, listen) => void` for `Platform.startWorker` (built by
 * scripts/worker-source.mjs, through tsup and vitest plugins).
 */
declare module '*?worker-source' {
  const source: string;
  export default source;
}
