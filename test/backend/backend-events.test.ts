/**
 * initBackend as documented (issue 21): onBackendChange fires for the first initialisation and
 * for a switch, not for a call that keeps the active backend; a number of threads that cannot be
 * had rejects (in Node tfjs' WASM is single-threaded) instead of resolving with fewer.
 */
import { expect, test } from 'vitest';
import {
  type BackendChangeEvent,
  BackendError,
  initBackend,
  OptionError,
  onBackendChange,
} from '../../src/index.js';

test('onBackendChange: the first init fires, a repeat that keeps the backend does not', async () => {
  const events: BackendChangeEvent[] = [];
  const off = onBackendChange((e) => events.push(e));
  try {
    const first = await initBackend({ backend: 'wasm' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ cause: 'init', previous: undefined, current: first });
    await initBackend({ backend: 'wasm' });
    await initBackend();
    expect(events).toHaveLength(1);
  } finally {
    off();
  }
});

test('threads: a number that cannot be had rejects; a malformed one is an OptionError', async () => {
  await expect(initBackend({ backend: 'wasm', threads: 2 })).rejects.toThrow(BackendError);
  await expect(initBackend({ backend: 'wasm', threads: 2 })).rejects.toThrow(
    /2 threads were asked for, but tfjs-backend-wasm runs single-threaded in node/,
  );
  await expect(initBackend({ threads: '2' as never })).rejects.toThrow(OptionError);
  await expect(initBackend({ threads: '2' as never })).rejects.toThrow(
    `threads must be 'auto' or an integer >= 1, got the string "2"`,
  );
  const info = await initBackend({ backend: 'wasm', threads: 1 });
  expect(info.threads).toBe(1);
});
