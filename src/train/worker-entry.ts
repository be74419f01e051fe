// The training worker's script (dist/browser-fx-train-worker.js): a module worker that loads the
// library and serves trainInWorker's requests (src/train/worker.ts).
import { serveTrainingWorker } from './worker.js';

// tfjs' emscripten glue reads `_scriptDir || __filename` where there is no document (a worker);
// webpack turns its `typeof __filename` guard into 'string' and leaves the name unbound there.
// The glue only uses it as a fallback location (the library names every file it loads).
const scope = globalThis as { __filename?: string; location?: { href: string } };
scope.__filename ??= scope.location?.href ?? '';

serveTrainingWorker(self as unknown as Parameters<typeof serveTrainingWorker>[0]);
