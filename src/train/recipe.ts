/**
 * Named training recipes: the reference tutorial's, and the best this library found for the
 * same LeNet-5 (the one that trained the shipped weights).
 *
 * @module
 */
import { type AugmentOptions, DEFAULT_AUGMENT } from '../data/augment.js';
import { OptionError } from '../errors.js';
import { checkInt } from '../options.js';
import { cosineSchedule, type LearningRateSchedule } from './schedule.js';

/**
 * A named training recipe, `train`'s `recipe` option (the CLI's `--recipe`):
 *
 * - `'reference'` (default): the tutorial's, 5 epochs of Adam at 1e-3, no weight decay, no
 *   augmentation (98.5-99.0% on the MNIST test set, depending on the seed).
 * - `'best'`: 12 epochs of AdamW (weight decay 0.05) with one epoch of linear warm-up to 2e-3 and
 *   per-step cosine decay to 0, on randomly distorted images ({@link DEFAULT_AUGMENT}): past
 *   99.3% by epoch 9-10 (seeds 1-3), 99.50% after 12 epochs with the shipped weights' seed, and
 *   sturdier on rotated, shifted or resized digits. Each epoch costs about 15% more (the
 *   distortions), and it runs 2.4x the epochs.
 *
 * @example
 * ```ts
 * const history = await train(model, data, { recipe: 'best', seed: 1, validationData });
 * ```
 */
export type TrainingRecipe = 'reference' | 'best';

/**
 * What a recipe sets; options given to `train` next to `recipe` override these.
 *
 * @example
 * ```ts
 * const { epochs, weightDecay } = trainingRecipe('best'); // 12, 0.05
 * ```
 */
export interface RecipeSettings {
  /** Passes over the data. */
  epochs: number;
  /** A constant rate, or a per-step schedule over `epochs`. */
  learningRate: number | LearningRateSchedule;
  /** AdamW's decoupled weight decay; 0 is plain Adam. */
  weightDecay: number;
  /** Distortions of the training images, or `false`. */
  augment: AugmentOptions | false;
}

/** The `'best'` recipe's constants (also recorded in the shipped weights' metadata). */
const BEST = { epochs: 12, peak: 2e-3, warmupEpochs: 1, weightDecay: 0.05 } as const;

/**
 * The settings of a named recipe. `epochs` stretches the recipe's schedule over another number
 * of epochs (the `'best'` cosine always ends at 0 on the last epoch).
 *
 * @param name - `'reference'` or `'best'`.
 * @param epochs - Overrides the recipe's number of epochs (an integer, 1 or more).
 * @returns The recipe's epochs, learning rate or schedule, weight decay and augmentation.
 * @throws {@link OptionError} (a `RangeError`) for an unknown recipe or a bad `epochs`.
 *
 * @example
 * ```ts
 * const best = trainingRecipe('best');
 * console.log(best.epochs, typeof best.learningRate); // 12 'function'
 * const short = trainingRecipe('best', 4); // the same schedule squeezed into 4 epochs
 * ```
 */
export function trainingRecipe(name: TrainingRecipe, epochs?: number): RecipeSettings {
  checkInt('', 'epochs', epochs, 1, Number.POSITIVE_INFINITY, true);
  if (name === 'reference') {
    return { epochs: epochs ?? 5, learningRate: 1e-3, weightDecay: 0, augment: false };
  }
  if (name === 'best') {
    const e = epochs ?? BEST.epochs;
    return {
      epochs: e,
      learningRate: cosineSchedule({
        peak: BEST.peak,
        epochs: e,
        warmupEpochs: Math.min(BEST.warmupEpochs, e / 2),
      }),
      weightDecay: BEST.weightDecay,
      augment: { ...DEFAULT_AUGMENT },
    };
  }
  throw new OptionError(
    'recipe',
    `recipe must be "reference" or "best", got ${JSON.stringify(name)}`,
  );
}
