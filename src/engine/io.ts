import { OptionError } from '../errors.js';
import { checkMetadata, decodeWeights } from '../model/weights.js';
import { platform } from '../platform/index.js';
import { EngineModel } from './model.js';
import type { Model } from './types.js';

/**
 * Rebuilds a model from the bytes of `model.save()`, validating everything first (see
 * `decodeWeights`). Starts no backend: the engine is bound on first use.
 *
 * @example
 * ```ts
 * import { createLeNet, loadModel } from 'lenet-mnist';
 * const bytes = await (await createLeNet()).save();
 * const copy = await loadModel(bytes);
 * ```
 * @param bytes - The file's bytes, from `model.save()`, {@link saveModelFile} or a fetch.
 * @param source - A name for the file in error messages. Default: `'weights'`.
 * @returns A new model with the file's architecture, preprocessing, weights and metadata.
 * @throws {@link WeightsFormatError} for a corrupt, truncated or mismatched file.
 */
export async function loadModel(bytes: Uint8Array | ArrayBuffer, source?: string): Promise<Model> {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const { header, tensors } = decodeWeights(data, source);
  return new EngineModel(header.spec, header.preprocessing, tensors, header.metadata ?? {});
}

/**
 * Saves a model's weights to a file (Node, Deno, Bun), atomically: the bytes are written to a
 * temporary file with a unique name next to `path` (`<path>.<pid>.<random>.tmp`), flushed to
 * disk (fsync), then renamed over `path`. Readers see the old file or the new one, never a
 * part of one; concurrent saves to one path all succeed and the last rename wins; a failed save
 * removes its temporary file (a process killed mid-save can leave one behind, never a damaged
 * `path`).
 *
 * @example
 * ```ts
 * await saveModelFile(model, './lenet.weights', { trainedOn: 'mnist', epochs: 5 });
 * ```
 * @param model - The model to save.
 * @param path - Where to write, a non-empty path; parent folders are created.
 * @param metadata - Facts to store with the weights, merged over `model.metadata`: a plain
 *   object whose values JSON can represent. Default: none (`model.metadata` alone).
 * @throws {@link OptionError} (before anything is written) if `path` is not a non-empty
 *   string, `model` has no `save` method, or `metadata` is not a plain JSON-serialisable object;
 *   the host's file-system error if the file cannot be written; an `Error` in browsers, which
 *   have no file system (use the bytes of `model.save()` there).
 */
export async function saveModelFile(
  model: Model,
  path: string,
  metadata?: Record<string, unknown>,
): Promise<void> {
  if (typeof path !== 'string' || path === '') {
    throw new OptionError(
      'path',
      `saveModelFile: path must be a non-empty string, got ${path === '' ? 'an empty string' : typeof path}`,
    );
  }
  if (typeof (model as { save?: unknown } | null)?.save !== 'function') {
    throw new OptionError('model', 'saveModelFile: model must be a Model (with a save() method)');
  }
  checkMetadata('saveModelFile', metadata);
  await platform.writeFile(path, await model.save(metadata));
}

/**
 * Loads a model saved with {@link saveModelFile} (a path in Node, a URL anywhere).
 *
 * @example
 * ```ts
 * const model = await loadModelFile('./lenet.weights');
 * ```
 * @param path - A file path (Node, Deno, Bun) or a URL (fetched; browsers take URLs only).
 * @returns The model, as {@link loadModel} rebuilds it.
 * @throws {@link WeightsFormatError} for a corrupt, truncated or mismatched file;
 *   {@link OptionError} if `path` is not a non-empty string or a URL; the host's error (or an
 *   `Error` naming the HTTP status) if it cannot be read.
 */
export async function loadModelFile(path: string | URL): Promise<Model> {
  if (!((typeof path === 'string' && path !== '') || path instanceof URL)) {
    throw new OptionError('path', 'loadModelFile: path must be a non-empty string or a URL');
  }
  return loadModel(await platform.readFile(path), String(path));
}
