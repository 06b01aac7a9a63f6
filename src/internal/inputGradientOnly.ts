/**
 * A flag that tells medrobust's composed weight-gradient kernels (src/backend) that only input
 * gradients are wanted. tfjs-core's fused conv2d (every conv followed by batch norm) computes the
 * filter gradient eagerly in its custom gradient even when only dx is asked for, and the tape then
 * drops it: on a ResNet-style net that is ~40% of a PGD step. While an attack evaluates its input
 * gradient this flag is on, and the filter-gradient kernels return zeros that nothing reads.
 * Core code only sets the flag; it imports no backend.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

export const INPUT_GRADIENT_ONLY = 'MEDROBUST_INPUT_GRADIENT_ONLY';

let registered = false;

function ensureFlag(): void {
  if (registered) return;
  const flags = tf.env().getFlags();
  if (!(INPUT_GRADIENT_ONLY in flags)) tf.env().registerFlag(INPUT_GRADIENT_ONLY, () => false);
  if (!(INPUT_GRADIENT_DISCARDED in flags)) tf.env().registerFlag(INPUT_GRADIENT_DISCARDED, () => false);
  registered = true;
}

/** Runs `fn` (an input-gradient computation whose weight gradients are discarded) with the flag on. */
export function withInputGradientOnly<T>(fn: () => T): T {
  ensureFlag();
  const env = tf.env();
  const previous = env.getBool(INPUT_GRADIENT_ONLY);
  env.set(INPUT_GRADIENT_ONLY, true);
  try {
    return fn();
  } finally {
    env.set(INPUT_GRADIENT_ONLY, previous);
  }
}

/** True while {@link withInputGradientOnly} runs, or while a conv's gradient runs whose filter the tape does not ask for. */
export function inputGradientOnly(): boolean {
  ensureFlag();
  return tf.env().getBool(INPUT_GRADIENT_ONLY);
}

/**
 * The converse flag, set per tape node: the gradient of a tfjs-core fused conv whose input the tape does
 * not ask for (a training step's first conv reads the images, which are no function of the weights) runs
 * with it on, and the input-gradient kernels return zeros that nothing reads instead of a full backward
 * convolution. internal/gradientFixes.ts sets it from the tape node's pruned inputs.
 */
export const INPUT_GRADIENT_DISCARDED = 'MEDROBUST_INPUT_GRADIENT_DISCARDED';

/**
 * Runs `fn`, one custom conv gradient, with the input gradient ({@link INPUT_GRADIENT_DISCARDED}) and/or the
 * filter gradient ({@link INPUT_GRADIENT_ONLY}) marked as discarded.
 */
export function withDiscardedConvGradients<T>(discard: { input: boolean; filter: boolean }, fn: () => T): T {
  ensureFlag();
  const env = tf.env();
  const previousInput = env.getBool(INPUT_GRADIENT_DISCARDED);
  const previousFilter = env.getBool(INPUT_GRADIENT_ONLY);
  if (discard.input) env.set(INPUT_GRADIENT_DISCARDED, true);
  if (discard.filter) env.set(INPUT_GRADIENT_ONLY, true);
  try {
    return fn();
  } finally {
    env.set(INPUT_GRADIENT_DISCARDED, previousInput);
    env.set(INPUT_GRADIENT_ONLY, previousFilter);
  }
}

/** True while a conv gradient runs whose input gradient the tape discards (see {@link withDiscardedConvGradients}). */
export function inputGradientDiscarded(): boolean {
  ensureFlag();
  return tf.env().getBool(INPUT_GRADIENT_DISCARDED);
}
