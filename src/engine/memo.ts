/**
 * `make()`'s promise, kept in `cache` under `key` for every later caller; a rejection is dropped
 * from it, so that a failure does not stick and the next caller tries again.
 */
export function memoPromise<K, V>(
  cache: Map<K, Promise<V>>,
  key: K,
  make: () => Promise<V>,
): Promise<V> {
  let pending = cache.get(key);
  if (pending === undefined) {
    pending = make();
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return pending;
}
