// The training worker's script (dist/browser-fx-train-worker.js): a module worker that loads the
// library and serves trainInWorker's requests (src/train/worker.ts).
import { serveTrainingWorker } from './worker.js';

serveTrainingWorker(self as unknown as Parameters<typeof serveTrainingWorker>[0]);
