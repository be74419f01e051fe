import type { Plugin as EsbuildPlugin } from 'esbuild';
import type { Plugin as VitePlugin } from 'vite';

export function bundleWorkerSource(entry: string): Promise<string>;
export const workerSourceEsbuildPlugin: EsbuildPlugin;
export const workerSourceVitePlugin: VitePlugin;
