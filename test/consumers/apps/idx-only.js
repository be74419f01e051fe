// An app that uses only the data layer: it must not pull in tfjs, the backends or any asset.
import { parseIdx } from 'lenet-mnist';

window.lenetRun = async () => {
  // A 1-D IDX file (ubyte) holding 3 bytes.
  const bytes = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]);
  const parsed = parseIdx(bytes);
  return { shape: parsed.shape, data: Array.from(parsed.data) };
};
window.lenetReady = true;
