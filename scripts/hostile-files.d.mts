// Types of scripts/hostile-files.mjs (builders of hostile files for tests and the campaign).
export function pngDeclaring(
  width: number,
  height: number,
  options?: { bitDepth?: number; colorType?: number; idat?: Uint8Array },
): Uint8Array;
export function pngBomb(side: number): Uint8Array;
export function pngSquare(side: number): Uint8Array;
export function jpegDeclaring(width: number, height: number): Uint8Array;
export function zipStored(
  entries: readonly { name: string; data: Uint8Array }[],
  options?: { extraCentral?: readonly { name: string; target: string }[] },
): Uint8Array;
export function ptSharedStorage(
  keys: number,
  storageBytes: number,
  options?: { distinct?: boolean },
): Uint8Array;
export function pickleMarks(count: number): Uint8Array;
export function zipManyRecords(records: number, entryBytes: number): Uint8Array;
export function safetensors(header: Record<string, unknown>, data: Uint8Array): Uint8Array;
export function safetensorsAliased(names: number, bytes: number): Uint8Array;
export function safetensorsNested(depth: number): Uint8Array;
export function idxHeaderOnly(shape: readonly number[]): Uint8Array;
