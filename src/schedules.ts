/**
 * `lenet-mnist/schedules`: learning-rate schedules and the training recipes built on them, as
 * PyTorch keeps its schedulers apart in `torch.optim.lr_scheduler`. A schedule is a pure
 * function of `(epoch, batch, batchesPerEpoch)` that `train({ learningRate })` calls for every
 * step; `trainingRecipe` tells what a named recipe (`'reference'`, `'best'`) sets. Pure
 * TypeScript: importing it loads no tfjs.
 *
 * @example
 * ```ts
 * import { train } from 'lenet-mnist';
 * import { cosineSchedule } from 'lenet-mnist/schedules';
 * await train(model, data, { epochs: 12, learningRate: cosineSchedule({ peak: 2e-3, epochs: 12 }) });
 * ```
 *
 * @packageDocumentation
 */

export { type RecipeSettings, trainingRecipe } from './train/recipe.js';
export {
  type CosineScheduleOptions,
  cosineSchedule,
  type OneCycleScheduleOptions,
  oneCycleSchedule,
  type StepScheduleOptions,
  stepSchedule,
  type WarmupOptions,
} from './train/schedule.js';
