/**
 * `lenet-mnist/tfjs`: the tfjs-core instance lenet-mnist computes with. The package bundles its
 * own tfjs-core 4.22 with a private engine (its own backends, kernels and tensors), so an app's
 * own tfjs is never switched to lenet-mnist's backend; use this entry to run tfjs ops on the same
 * engine as lenet-mnist's models (for example on tensors made from `model.getWeights()`). Its types come
 * from `@tensorflow/tfjs-core`, an optional peer dependency: install it (4.22) to type-check code
 * that imports this entry.
 *
 * @packageDocumentation
 */
export * as tf from '@tensorflow/tfjs-core';
