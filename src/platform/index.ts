// The build resolves `#platform` to node.ts (Node, Deno, Bun) or browser.ts (browsers).
export { platform } from '#platform';
export type { ByteCache, NavigatorGpuResult, Platform, WorkerHandle } from './types.js';
