import { vi } from 'vitest';
import { platform } from '../../src/platform/index.js';

/**
 * Counts the workers the library starts and has not terminated, where the platform layer starts
 * them (a spy on `platform.startWorker`); read `live()` before and after to prove none leaked.
 */
export function countWorkers(): { live(): number } {
  let live = 0;
  const startWorker = platform.startWorker.bind(platform);
  vi.spyOn(platform, 'startWorker').mockImplementation((source) => {
    const handle = startWorker(source);
    live++;
    const terminate = handle.terminate.bind(handle);
    handle.terminate = async () => {
      live--;
      await terminate();
    };
    return handle;
  });
  return { live: () => live };
}
