/**
 * Keeping weights in the browser: as a downloadable file and in IndexedDB. Loading from a file
 * input needs no helper: `loadModel(await file.arrayBuffer())`.
 */
import { loadModel } from '../engine/io.js';
import type { Model } from '../engine/types.js';
import { LenetMnistError } from '../errors.js';

const DB_NAME = 'lenet-mnist';
const STORE = 'models';

/**
 * A blob URL of a model's weights file (the bytes of `model.save()`), for a download link:
 * `<a href={url} download="lenet.weights">`. Revoke it with `URL.revokeObjectURL` when done.
 *
 * @param model - a model, or bytes already saved.
 * @example
 * ```ts
 * const a = document.createElement('a');
 * a.href = await weightsDownloadUrl(model);
 * a.download = 'lenet-mnist.weights';
 * a.click();
 * ```
 */
export async function weightsDownloadUrl(model: Model | Uint8Array): Promise<string> {
  const bytes = model instanceof Uint8Array ? model : await model.save();
  return URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
}

function openDb(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') {
    return Promise.reject(new LenetMnistError('IndexedDB is not available here'));
  }
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () =>
      reject(new LenetMnistError(`cannot open IndexedDB '${DB_NAME}': ${request.error?.message}`));
  });
}

async function withStore<T>(
  mode: IDBTransactionMode,
  act: (store: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = act(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(new LenetMnistError(`IndexedDB: ${tx.error?.message}`));
      tx.onabort = () =>
        reject(new LenetMnistError(`IndexedDB: ${tx.error?.message ?? 'aborted'}`));
    });
  } finally {
    db.close();
  }
}

/**
 * Stores a model's weights in the browser's IndexedDB (database `lenet-mnist`) under `key`,
 * replacing what was there; {@link loadModelFromIndexedDB} loads it back, also after a reload.
 *
 * @param model - the model (or bytes already saved).
 * @param key - the name to store it under. Default `'default'`.
 * @example
 * ```ts
 * await saveModelToIndexedDB(model, 'my-lenet');
 * ```
 */
export async function saveModelToIndexedDB(
  model: Model | Uint8Array,
  key = 'default',
): Promise<void> {
  const bytes = model instanceof Uint8Array ? model : await model.save();
  await withStore('readwrite', (store) => store.put(bytes.slice(), key));
}

/**
 * Loads a model stored with {@link saveModelToIndexedDB}, or `undefined` if there is none
 * under `key`.
 *
 * @param key - the name it was stored under. Default `'default'`.
 * @example
 * ```ts
 * const model = (await loadModelFromIndexedDB('my-lenet')) ?? (await loadPretrained());
 * ```
 */
export async function loadModelFromIndexedDB(key = 'default'): Promise<Model | undefined> {
  const bytes = await withStore<unknown>('readonly', (store) => store.get(key));
  if (bytes === undefined) return undefined;
  return loadModel(bytes as Uint8Array, `IndexedDB '${DB_NAME}' key '${key}'`);
}
