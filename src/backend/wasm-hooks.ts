/**
 * What the library's bundled copy of tfjs-backend-wasm reads when it starts (tsup.config.ts
 * patches the copy to import this module). A module of the bundle, not a property of the host's
 * global object, so that nothing of the library is visible process-wide. Set by wasm.ts before
 * each start; unbundled tfjs (the tests on src/) never reads it.
 */
export interface TfjsWasmHooks {
  /** The threaded build: the pthread workers' script URL and the pool size. */
  threads?: { mainScriptUrl: string; poolSize: number };
  /**
   * Emscripten's `instantiateWasm` for the binary tfjs picked (SIMD, threads), when the app
   * provided it as a module or bytes (setAssets); `undefined`: tfjs loads it from its URL.
   */
  instantiateWasm?: (
    simd: boolean,
    threaded: boolean,
  ) =>
    | ((
        imports: WebAssembly.Imports,
        receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
      ) => object)
    | undefined;
}

export const tfjsWasmHooks: TfjsWasmHooks = {};
