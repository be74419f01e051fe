// The lenet-mnist demo: a drawing pad classified live, training in a Web Worker with live
// charts, the test set's confusion matrix and mistakes, and saving/loading weights.
// Serve the repository root with `npm run demo` (examples/serve.mjs), which also serves MNIST.
import {
  createLeNet,
  createPredictor,
  extractDigit,
  formatBackendInfo,
  initBackend,
  loadModel,
  loadModelFromIndexedDB,
  loadPretrained,
  onBackendChange,
  saveModelToIndexedDB,
  trainInWorker,
  weightsDownloadUrl,
} from '../../dist/browser.js';

const $ = (id) => document.getElementById(id);
const pad = $('pad');
const ctx = pad.getContext('2d', { willReadFrequently: true });
const TEST_COUNT = 1000;

// ---- Backend line ---------------------------------------------------------------------------
function plainBackend(info) {
  if (info.backend === 'webgpu') {
    const a = info.adapter;
    return `Runs on the GPU with WebGPU${a?.description || a?.vendor ? ` (${a.description || a.vendor})` : ''}`;
  }
  const threads = info.threads > 1 ? ` + ${info.threads} threads` : ', one thread';
  return `Runs on the CPU with WebAssembly${info.simd ? ' SIMD' : ''}${threads}`;
}
const showBackend = (info) => {
  $('backend').textContent = plainBackend(info);
  $('backend-more').textContent = `${formatBackendInfo(info)}\n${info.reason ?? ''}`;
};

// ---- Models ----------------------------------------------------------------------------------
const state = {
  pretrained: undefined,
  pretrainedPredictor: undefined,
  trained: undefined,
  trainedPredictor: undefined,
  controller: undefined,
  trainingSpan: undefined,
  lastPrediction: undefined,
};
window.lenetDemo = state; // for tests and the console

function activePredictor() {
  return $('use-trained').checked && state.trainedPredictor
    ? state.trainedPredictor
    : state.pretrainedPredictor;
}

async function setTrained(model, name) {
  state.trained?.dispose();
  state.trainedPredictor?.dispose();
  state.trained = model;
  await nextTask();
  state.trainedPredictor = await createPredictor(model);
  await nextTask();
  $('use-trained').disabled = false;
  $('download').disabled = false;
  $('save-idb').disabled = false;
  $('use-trained').checked = true;
  $('model-name').textContent = `Model: ${name}`;
  classify();
}

// ---- Drawing pad -----------------------------------------------------------------------------
let inked = false;
function clearPad() {
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, pad.width, pad.height);
  inked = false;
  $('label').textContent = '?';
  $('bars').replaceChildren();
  state.lastPrediction = undefined;
}
clearPad();

let classifying = false;
let again = false;
async function classify() {
  const predictor = activePredictor();
  if (!inked || !predictor) return;
  if (classifying) {
    again = true;
    return;
  }
  classifying = true;
  try {
    // Dark ink on white: the predictor inverts it and frames it like MNIST.
    const { label, probabilities } = await predictor.predict(
      ctx.getImageData(0, 0, pad.width, pad.height),
    );
    state.lastPrediction = { label, probabilities: Array.from(probabilities) };
    $('label').textContent = String(label);
    $('bars').replaceChildren(
      ...Array.from(probabilities, (p, d) => {
        const row = document.createElement('div');
        const bar = document.createElement('span');
        bar.className = 'bar';
        bar.style.width = `${Math.round(p * 160)}px`;
        row.append(`${d}`, bar, `${(p * 100).toFixed(1)}%`);
        return row;
      }),
    );
  } finally {
    classifying = false;
    if (again) {
      again = false;
      classify();
    }
  }
}

let drawing = false;
let last;
function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return [
    ((e.clientX - r.left) * pad.width) / r.width,
    ((e.clientY - r.top) * pad.height) / r.height,
  ];
}
pad.addEventListener('pointerdown', (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  last = padPoint(e);
  ctx.fillStyle = '#000';
  ctx.beginPath();
  ctx.arc(last[0], last[1], 9, 0, Math.PI * 2);
  ctx.fill();
  inked = true;
});
let frame = 0;
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  const p = padPoint(e);
  ctx.lineWidth = 18;
  ctx.lineCap = 'round';
  ctx.strokeStyle = '#000';
  ctx.beginPath();
  ctx.moveTo(last[0], last[1]);
  ctx.lineTo(p[0], p[1]);
  ctx.stroke();
  last = p;
  // Live prediction while drawing, at most once per frame.
  if (!frame) {
    frame = requestAnimationFrame(() => {
      frame = 0;
      classify();
    });
  }
});
for (const type of ['pointerup', 'pointercancel']) {
  pad.addEventListener(type, () => {
    if (drawing) classify();
    drawing = false;
  });
}
$('clear').addEventListener('click', clearPad);
$('use-trained').addEventListener('change', () => {
  $('model-name').textContent = `Model: ${$('use-trained').checked ? 'trained' : 'pretrained'}`;
  classify();
});

// ---- Photos and the camera -----------------------------------------------------------------
/** Reads a digit from an image, a video frame or a bitmap of `width` x `height`. */
async function readPhoto(source, width, height) {
  const predictor = activePredictor();
  if (!predictor || !width || !height) return;
  // Phone photos are large: 1024 pixels a side is plenty for a digit.
  const scale = Math.min(1, 1024 / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const c = canvas.getContext('2d', { willReadFrequently: true });
  c.drawImage(source, 0, 0, w, h);
  const image = c.getImageData(0, 0, w, h);
  // The same pipeline the predictor runs, to show what the model read.
  const extracted = extractDigit(image);
  const { label, probabilities, empty } = await predictor.predict(image);

  const view = $('photo-view');
  view.width = Math.min(640, w);
  view.height = Math.round((view.width * h) / w);
  const v = view.getContext('2d');
  v.drawImage(canvas, 0, 0, view.width, view.height);
  if (extracted.box) {
    const k = view.width / w;
    v.strokeStyle = '#e22';
    v.lineWidth = 2;
    const b = extracted.box;
    v.strokeRect(b.x * k, b.y * k, b.width * k, b.height * k);
  }
  const digit = $('photo-digit').getContext('2d');
  const pixels = digit.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const g = extracted.pixels[i];
    pixels.data.set([g, g, g, 255], i * 4);
  }
  digit.putImageData(pixels, 0, 0);
  $('photo-label').textContent = empty ? 'no digit found' : String(label);
  $('photo-detail').textContent = empty
    ? `${w}x${h}: no digit found (a blank sheet?)`
    : `${w}x${h}, ${extracted.polarity}: ${label} with p = ${probabilities[label].toFixed(3)}`;
  state.lastPhoto = {
    label,
    empty,
    probability: probabilities[label],
    polarity: extracted.polarity,
  };
}

$('photo-file').addEventListener('change', async (e) => {
  const file = e.target.files?.[0];
  if (!file) return;
  try {
    const bitmap = await createImageBitmap(file);
    await readPhoto(bitmap, bitmap.width, bitmap.height);
    bitmap.close();
  } catch (err) {
    $('photo-detail').textContent = `Cannot read ${file.name}: ${err.message}`;
  }
});

let stream;
function stopCamera() {
  for (const track of stream?.getTracks() ?? []) track.stop();
  stream = undefined;
  $('camera-view').hidden = true;
  $('camera').textContent = 'Camera';
  $('snap').disabled = true;
}
$('camera').addEventListener('click', async () => {
  if (stream) {
    stopCamera();
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: 'environment' },
    });
  } catch (err) {
    $('photo-detail').textContent = `No camera: ${err.message}`;
    return;
  }
  const video = $('camera-view');
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  $('camera').textContent = 'Stop camera';
  $('snap').disabled = false;
});
$('snap').addEventListener('click', () => {
  const video = $('camera-view');
  return readPhoto(video, video.videoWidth, video.videoHeight);
});

// ---- Charts ----------------------------------------------------------------------------------
const series = { loss: [], accuracy: [], valLoss: [], valAccuracy: [], total: 1 };
function drawChart(canvas, line, points, maxY, color) {
  const c = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  c.clearRect(0, 0, w, h);
  c.strokeStyle = '#ddd';
  c.fillStyle = '#777';
  c.font = '10px sans-serif';
  for (let k = 0; k <= 4; k++) {
    const y = h - 12 - ((h - 20) * k) / 4;
    c.beginPath();
    c.moveTo(28, y);
    c.lineTo(w, y);
    c.stroke();
    c.fillText(((maxY * k) / 4).toFixed(maxY > 1.5 ? 1 : 2), 2, y + 3);
  }
  const x = (i) => 28 + ((w - 32) * i) / Math.max(1, series.total);
  const y = (v) => h - 12 - ((h - 20) * Math.min(v, maxY)) / maxY;
  c.strokeStyle = color;
  c.lineWidth = 1.5;
  c.beginPath();
  for (const [k, [i, v]] of line.entries()) {
    if (k) c.lineTo(x(i), y(v));
    else c.moveTo(x(i), y(v));
  }
  c.stroke();
  c.fillStyle = '#c33';
  for (const [i, v] of points) {
    c.beginPath();
    c.arc(x(i), y(v), 4, 0, Math.PI * 2);
    c.fill();
  }
}
let chartFrame = 0;
function redrawCharts() {
  if (chartFrame) return;
  chartFrame = requestAnimationFrame(() => {
    chartFrame = 0;
    const maxLoss = Math.max(0.5, ...series.loss.slice(0, 5).map((p) => p[1]));
    drawChart($('loss-chart'), series.loss, series.valLoss, Math.ceil(maxLoss * 2) / 2, '#36c');
    drawChart($('accuracy-chart'), series.accuracy, series.valAccuracy, 1, '#2a7');
  });
}

// ---- Results ---------------------------------------------------------------------------------
function showConfusion(confusion) {
  const table = $('confusion');
  const head = document.createElement('tr');
  head.append(document.createElement('th'));
  for (let p = 0; p < 10; p++) {
    const th = document.createElement('th');
    th.textContent = String(p);
    head.append(th);
  }
  const rows = confusion.map((row, t) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = String(t);
    tr.append(th);
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((n, p) => {
      const td = document.createElement('td');
      td.textContent = String(n);
      const share = n / total;
      td.style.background =
        t === p
          ? `rgba(40,160,90,${share * 0.6})`
          : n
            ? `rgba(210,50,50,${Math.min(0.7, share * 4)})`
            : '';
      tr.append(td);
    });
    return tr;
  });
  table.replaceChildren(head, ...rows);
}

function showMistakes(test, predictions, limit = 60) {
  const out = [];
  for (let i = 0; i < test.count && out.length < limit; i++) {
    if (predictions[i] === test.labels[i]) continue;
    const fig = document.createElement('figure');
    const c = document.createElement('canvas');
    c.width = 28;
    c.height = 28;
    const g = c.getContext('2d');
    const img = g.createImageData(28, 28);
    // Written in place (no array per pixel): this runs on the page, inside the long-task budget.
    const px = img.data;
    for (let k = 0; k < 784; k++) {
      const v = 255 - test.images[i * 784 + k];
      px[k * 4] = v;
      px[k * 4 + 1] = v;
      px[k * 4 + 2] = v;
      px[k * 4 + 3] = 255;
    }
    g.putImageData(img, 0, 0);
    const cap = document.createElement('figcaption');
    cap.textContent = `${test.labels[i]} → ${predictions[i]}`;
    fig.append(c, cap);
    out.push(fig);
  }
  $('mistakes').replaceChildren(...out);
}

// ---- Training --------------------------------------------------------------------------------
function readSettings() {
  const int = (id, min, max) =>
    Math.min(max, Math.max(min, Math.round(Number($(id).value) || min)));
  return {
    size: Number($('train-size').value),
    epochs: int('epochs', 1, 50),
    batchSize: int('batch-size', 1, 1024),
    learningRate: Math.min(1, Math.max(1e-5, Number($('learning-rate').value) || 0.002)),
  };
}

/** Resolves in a later task: lets the page paint and handle input in between. */
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * MNIST for a run, loaded and prepared in a Worker (data-worker.js) so that the page has no long
 * task between the click on Train and the trained model.
 */
function loadDataInWorker(size) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./data-worker.js', import.meta.url), {
      type: 'module',
      name: 'lenet-mnist demo data',
    });
    worker.addEventListener('message', (event) => {
      const m = event.data;
      if (m.type === 'progress') {
        const p = m.progress;
        $('status').textContent =
          `Loading ${p.file}: ${Math.round(p.loaded / 1024)} KB${p.from === 'cache' ? ' (from cache)' : ''}`;
        return;
      }
      worker.terminate();
      if (m.type === 'ready') resolve(m);
      else reject(new Error(m.message));
    });
    worker.addEventListener('error', (e) => {
      worker.terminate();
      reject(new Error(e.message || 'the data worker failed'));
    });
    worker.postMessage({ size, testCount: TEST_COUNT, base: location.href });
  });
}

async function startTraining() {
  const clicked = performance.now();
  const settings = readSettings();
  const controller = new AbortController();
  state.controller = controller;
  $('train').disabled = true;
  $('stop').disabled = false;
  $('test-accuracy').textContent = '–';
  $('speed').textContent = '– samples/s';
  $('confusion').replaceChildren();
  $('mistakes').replaceChildren();
  Object.assign(series, { loss: [], accuracy: [], valLoss: [], valAccuracy: [], total: 1 });
  redrawCharts();
  const progress = $('progress');
  progress.value = 0;
  try {
    $('status').textContent = 'Loading MNIST…';
    const data = await loadDataInWorker(settings.size);
    const prepared = data.train;
    const validation = data.validation;
    const mnist = { test: data.test };
    const started = { t: 0, seen: 0 };
    let batchesPerEpoch = 1;
    let step = 0;
    const { size: _size, ...trainSettings } = settings; // size picks the files, not a train option
    const result = await trainInWorker(await createLeNet({ seed: 1 }), prepared, {
      ...trainSettings,
      seed: 1,
      validationData: validation,
      testData: mnist.test,
      signal: controller.signal,
      onBackend: (info) => {
        $('status').textContent = `Training in a Worker: ${plainBackend(info)}`;
      },
      onTrainBegin: (info) => {
        batchesPerEpoch = info.batchesPerEpoch;
        series.total = info.epochs * info.batchesPerEpoch;
        progress.max = series.total;
        started.t = performance.now();
        state.trainingSpan = { clicked, start: started.t, end: undefined };
      },
      onTrainEnd: () => {
        state.trainingSpan.trainEnd = performance.now();
      },
      onBatchEnd: (_batch, logs) => {
        state.trainingSpan.lastBatch = performance.now();
        step++;
        started.seen += logs.size;
        series.loss.push([step, logs.loss]);
        series.accuracy.push([step, logs.accuracy]);
        progress.value = step;
        const seconds = (performance.now() - started.t) / 1000;
        if (seconds > 0) $('speed').textContent = `${Math.round(started.seen / seconds)} samples/s`;
        redrawCharts();
      },
      onEpochEnd: (epoch, logs) => {
        const at = epoch * batchesPerEpoch;
        if (logs.valLoss !== undefined) series.valLoss.push([at, logs.valLoss]);
        if (logs.valAccuracy !== undefined) series.valAccuracy.push([at, logs.valAccuracy]);
        $('status').textContent =
          `Epoch ${epoch}: loss ${logs.loss.toFixed(3)}, test accuracy ${((logs.valAccuracy ?? 0) * 100).toFixed(1)}%`;
        redrawCharts();
      },
    });
    state.trainingSpan.end = performance.now();
    if (result.history.aborted) {
      $('status').textContent = `Stopped after ${step} batches.`;
      $('test-accuracy').textContent = 'stopped';
    } else if (result.test) {
      $('test-accuracy').textContent = `${(result.test.accuracy * 100).toFixed(2)}%`;
      $('status').textContent =
        `Done: ${result.history.epochs.length} epochs on ${prepared.count} images.`;
      // Separate tasks, so that no one of them holds the page for long.
      await nextTask();
      showConfusion(result.test.confusion);
      await nextTask();
      showMistakes(mnist.test, result.test.predictions);
      state.trainingSpan.shown = performance.now();
      await nextTask();
    }
    await setTrained(result.model, result.history.aborted ? 'trained (stopped early)' : 'trained');
    state.trainingSpan.modelReady = performance.now();
  } catch (err) {
    if (controller.signal.aborted) $('status').textContent = 'Stopped.';
    else {
      $('status').textContent = `Training failed: ${err.message}`;
      console.error(err);
    }
  } finally {
    $('train').disabled = false;
    $('stop').disabled = true;
    state.controller = undefined;
  }
}
$('train').addEventListener('click', startTraining);
$('stop').addEventListener('click', () => state.controller?.abort());

// ---- Weights ---------------------------------------------------------------------------------
$('download').addEventListener('click', async () => {
  const a = document.createElement('a');
  a.href = await weightsDownloadUrl(state.trained);
  a.download = 'lenet-mnist-trained.weights';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});
$('load-file').addEventListener('change', async (e) => {
  const file = e.target.files?.[0];
  if (!file) return;
  try {
    await setTrained(
      await loadModel(await file.arrayBuffer(), file.name),
      `loaded from ${file.name}`,
    );
    $('weights-status').textContent = `Loaded ${file.name}.`;
  } catch (err) {
    $('weights-status').textContent = `Cannot load ${file.name}: ${err.message}`;
  }
});
$('save-idb').addEventListener('click', async () => {
  await saveModelToIndexedDB(state.trained, 'demo');
  $('weights-status').textContent = 'Saved in this browser (IndexedDB).';
});
$('load-idb').addEventListener('click', async () => {
  const model = await loadModelFromIndexedDB('demo');
  if (!model) {
    $('weights-status').textContent = 'Nothing saved in this browser yet.';
    return;
  }
  await setTrained(model, 'loaded from this browser');
  $('weights-status').textContent = 'Loaded the weights saved in this browser.';
});

// ---- Start -----------------------------------------------------------------------------------
const info = await initBackend();
showBackend(info);
onBackendChange((event) => showBackend(event.current));
state.pretrained = await loadPretrained();
state.pretrainedPredictor = await createPredictor(state.pretrained);
state.ready = true;
document.body.dataset.ready = 'true';
