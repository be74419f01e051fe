// trainInWorker is for browsers: in Node it fails at once with a message that points to train().
import { describe, expect, it } from 'vitest';
import { TrainWorkerError, trainInWorker } from '../../src/index.js';

describe('trainInWorker in Node', () => {
  it('rejects with a TrainWorkerError that names train()', async () => {
    const data = {
      images: new Uint8Array(32 * 32),
      labels: new Uint8Array(1),
      count: 1,
      height: 32,
      width: 32,
      mean: 0,
      std: 1,
    };
    const err = await trainInWorker(new Uint8Array(8), data).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainWorkerError);
    expect((err as Error).message).toMatch(
      /needs a browser with Web Workers; in Node, call train\(\)/,
    );
  });
});
