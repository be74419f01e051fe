// A drawing pad that classifies what you draw with the shipped pretrained LeNet-5.
// Serve the repository root (node examples/serve.mjs) after `npm run build`.
import {
  createPredictor,
  formatBackendInfo,
  initBackend,
  loadPretrained,
  onBackendChange,
} from '../../dist/browser.js';

const pad = document.getElementById('pad');
const ctx = pad.getContext('2d', { willReadFrequently: true });
const bars = document.getElementById('bars');
const label = document.getElementById('label');

function clear() {
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, pad.width, pad.height);
  label.textContent = '?';
  bars.replaceChildren();
}
clear();

const info = await initBackend();
// The same line the CLI prints; updated if the GPU is lost and the library falls back to WASM.
const showBackend = (current) => {
  document.getElementById('backend').textContent = `Backend: ${formatBackendInfo(current)}`;
};
showBackend(info);
onBackendChange((event) => showBackend(event.current));
const predictor = await createPredictor(await loadPretrained());
window.lenetDemo = { info, predictor }; // for tests and the console

async function classify() {
  // Dark ink on a white canvas: the predictor detects that, inverts it and frames it like MNIST.
  const { label: digit, probabilities } = await predictor.predict(
    ctx.getImageData(0, 0, pad.width, pad.height),
  );
  label.textContent = String(digit);
  bars.replaceChildren(
    ...Array.from(probabilities, (p, d) => {
      const row = document.createElement('div');
      row.innerHTML = `<b>${d}</b><span class="bar" style="width:${Math.round(p * 200)}px"></span>${(p * 100).toFixed(1)}%`;
      return row;
    }),
  );
}

let drawing = false;
pad.addEventListener('pointerdown', (e) => {
  drawing = true;
  ctx.beginPath();
  ctx.moveTo(e.offsetX, e.offsetY);
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  ctx.lineWidth = 18;
  ctx.lineCap = 'round';
  ctx.strokeStyle = '#000';
  ctx.lineTo(e.offsetX, e.offsetY);
  ctx.stroke();
});
for (const type of ['pointerup', 'pointerleave']) {
  pad.addEventListener(type, () => {
    if (drawing) classify();
    drawing = false;
  });
}
document.getElementById('clear').addEventListener('click', clear);
