import { describe, expect, test } from 'vitest';
import { DEFAULT_AUGMENT } from '../../src/data/augment.js';
import { trainingRecipe } from '../../src/train/recipe.js';
import {
  cosineSchedule,
  type LearningRateSchedule,
  oneCycleSchedule,
  stepSchedule,
} from '../../src/train/schedule.js';

const BPE = 100;

/** Every step's rate over `epochs` epochs of BPE batches. */
function curve(schedule: LearningRateSchedule, epochs: number): number[] {
  const out: number[] = [];
  for (let e = 1; e <= epochs; e++) for (let b = 0; b < BPE; b++) out.push(schedule(e, b, BPE));
  return out;
}

describe('learning-rate schedules', () => {
  test('cosine: linear warm-up per step, then a monotone cosine from the peak to the final rate', () => {
    const s = cosineSchedule({ peak: 2e-3, epochs: 10, warmupEpochs: 1, final: 1e-5 });
    const rates = curve(s, 10);
    expect(rates[0]).toBeCloseTo(2e-5, 12); // warmupFrom 0.01 of the peak
    expect(rates[50]).toBeCloseTo(2e-3 * (0.01 + 0.99 * 0.5), 12);
    // Strictly rising through the warm-up, the peak right after it, then never rising again.
    for (let i = 1; i < BPE; i++)
      expect(rates[i] as number).toBeGreaterThan(rates[i - 1] as number);
    expect(rates[BPE]).toBe(2e-3);
    for (let i = BPE + 1; i < rates.length; i++) {
      expect(rates[i] as number).toBeLessThanOrEqual(rates[i - 1] as number);
    }
    // Half-way through the cosine: the mean of peak and final.
    expect(s(6, 50, BPE)).toBeCloseTo((2e-3 + 1e-5) / 2, 12);
    expect(rates.at(-1) as number).toBeLessThan(1e-5 + 1e-8);
    expect(rates.at(-1) as number).toBeGreaterThanOrEqual(1e-5);
    // A pure function: the same position gives the same rate, in any order of calls.
    expect(s(7, 3, BPE)).toBe(rates[6 * BPE + 3]);
  });

  test('step decay with warm-up; one-cycle rises then falls to its floor', () => {
    const step = stepSchedule({ rate: 1e-3, every: 3, factor: 0.5, warmupEpochs: 0.5 });
    expect(step(1, 0, BPE)).toBeCloseTo(1e-5, 12);
    expect(step(1, 50, BPE)).toBe(1e-3);
    expect(step(3, 99, BPE)).toBe(1e-3);
    expect(step(4, 0, BPE)).toBe(5e-4);
    expect(step(7, 0, BPE)).toBe(2.5e-4);
    const cycle = oneCycleSchedule({ peak: 3e-3, epochs: 10, rise: 0.3 });
    const rates = curve(cycle, 10);
    expect(rates[0]).toBeCloseTo(3e-3 / 25, 12);
    const top = rates.indexOf(Math.max(...rates));
    expect(top).toBe(300);
    expect(rates[top]).toBeCloseTo(3e-3, 12);
    // At the very end of the run the floor, peak / 25 / 1e4; the last step is just before it.
    expect(cycle(11, 0, BPE)).toBeCloseTo(3e-3 / 25 / 1e4, 15);
    expect(rates.at(-1) as number).toBeLessThan(1e-7);
    for (let i = 1; i <= top; i++)
      expect(rates[i] as number).toBeGreaterThan(rates[i - 1] as number);
    for (let i = top + 1; i < rates.length; i++) {
      expect(rates[i] as number).toBeLessThan(rates[i - 1] as number);
    }
  });

  test('bad settings are refused', () => {
    expect(() => cosineSchedule({ peak: 0, epochs: 5 })).toThrow(RangeError);
    expect(() => cosineSchedule({ peak: 1e-3, epochs: 5, final: 2e-3 })).toThrow(/final/);
    expect(() => cosineSchedule({ peak: 1e-3, epochs: 5, warmupEpochs: -1 })).toThrow(/warmup/);
    expect(() => stepSchedule({ rate: 1e-3, every: 0 })).toThrow(/every/);
    expect(() => stepSchedule({ rate: 1e-3, every: 2, factor: 0 })).toThrow(/factor/);
    expect(() => oneCycleSchedule({ peak: 1e-3, epochs: 5, rise: 1 })).toThrow(/rise/);
  });
});

describe('training recipes', () => {
  test('reference: the tutorial (5 epochs of Adam at 1e-3, no decay, no augmentation)', () => {
    expect(trainingRecipe('reference')).toEqual({
      epochs: 5,
      learningRate: 1e-3,
      weightDecay: 0,
      augment: false,
    });
  });

  test('best: AdamW, warm-up and cosine over its epochs, the default distortions', () => {
    const best = trainingRecipe('best');
    expect(best.epochs).toBe(12);
    expect(best.weightDecay).toBe(0.05);
    expect(best.augment).toEqual(DEFAULT_AUGMENT);
    const rate = best.learningRate as LearningRateSchedule;
    expect(rate(1, 0, BPE)).toBeCloseTo(2e-5, 12);
    expect(rate(2, 0, BPE)).toBe(2e-3);
    expect(rate(12, BPE - 1, BPE)).toBeLessThan(1e-6);
    // Stretched over another number of epochs: still ends near 0 at the last step.
    const short = trainingRecipe('best', 4).learningRate as LearningRateSchedule;
    expect(short(4, BPE - 1, BPE)).toBeLessThan(1e-5);
    expect(short(3, 0, BPE)).toBeGreaterThan(1e-4);
    expect(() => trainingRecipe('fast' as never)).toThrow(/recipe/);
    expect(() => trainingRecipe('best', 0)).toThrow(/epochs/);
  });
});
