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
  if (!(INPUT_GRADIENT_ONLY in tf.env().getFlags())) tf.env().registerFlag(INPUT_GRADIENT_ONLY, () => false);
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

/** True while {@link withInputGradientOnly} runs. */
export function inputGradientOnly(): boolean {
  ensureFlag();
  return tf.env().getBool(INPUT_GRADIENT_ONLY);
}
