// Preload (`node --import ./no-relaxed-simd.mjs app.mjs`): this engine reports no relaxed SIMD,
// as Node 20 without its flag does, so that lenet-mnist takes its plain SIMD fused kernels on
// Node 22+ (where relaxed SIMD is on and cannot be switched off). It hides only the
// `f32x4.relaxed_madd` instruction (0xfd 0x85 0x02) from WebAssembly.validate.
const validate = WebAssembly.validate;
WebAssembly.validate = (bytes, ...rest) => {
  const b = new Uint8Array(bytes.buffer ?? bytes, bytes.byteOffset ?? 0, bytes.byteLength);
  for (let i = 0; i + 2 < b.length; i++) {
    if (b[i] === 0xfd && b[i + 1] === 0x85 && b[i + 2] === 0x02) return false;
  }
  return validate.call(WebAssembly, bytes, ...rest);
};
