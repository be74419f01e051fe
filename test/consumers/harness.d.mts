// Types of harness.mjs (a plain module, so that `node test/consumers/harness.mjs` runs it).
export const ROOT: string;
export const CACHE: string;
export const BUNDLERS: string[];
export const NODE_LINES: Record<string, string>;
export function folderBytes(dir: string): number;
export function measureApp(dir: string): unknown;
export function testDigits(
  count?: number,
  offset?: number,
): { images: number[][]; labels: number[] };
export function prepareConsumers(options?: {
  only?: string[];
  log?: (message: string) => void;
}): Promise<unknown>;
export function ensureNode(version: string): Promise<string>;
