/** A digit image as the generator makes it: RGBA, row by row. */
export interface PhotoImage {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}
/** 28x28 MNIST test digits: `count` images of 784 bytes, and their labels. */
export interface TestDigits {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}
export const PHOTO_STYLES: readonly string[];
export const BLANK_KINDS: readonly string[];
export function seededRandom(...keys: string[]): () => number;
export function photoSample(
  testSet: TestDigits,
  style: string,
  i: number,
  seed?: string,
): { style: string; index: number; label: number; image: PhotoImage };
export function blankSample(
  i: number,
  seed?: string,
): { style: string; kind: string; image: PhotoImage };
