/**
 * One flag for the finiteness of many tensors (a training step's loss, gradients and weights). Core code:
 * it runs medrobust's `MedrobustNonFiniteFlag` kernel where a backend has it (wasm: one read of each
 * tensor in the kernel module, src/backend/kernels/nativeOps.ts) and the same sum of x·0 through tfjs ops
 * elsewhere. It imports no backend.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { addAll } from './loss.js';

/** The kernel name medrobust registers for wasm. */
export const NONFINITE_FLAG_KERNEL = 'MedrobustNonFiniteFlag';

/**
 * A float32 scalar: 0 when every value of every tensor is finite, NaN when one is NaN or ±Infinity (the sum
 * of x·0, which cannot overflow). The caller disposes it; read it with one `data()`.
 */
export function nonFiniteFlag(tensors: readonly tf.Tensor[]): tf.Scalar {
  if (tensors.length === 0) return tf.scalar(0);
  if (tf.getKernel(NONFINITE_FLAG_KERNEL, tf.getBackend())) {
    const inputs: Record<string, tf.Tensor> = {};
    tensors.forEach((t, i) => { inputs[String(i)] = t; });
    return tf.engine().runKernel(NONFINITE_FLAG_KERNEL, inputs, {}) as tf.Scalar;
  }
  // each x·0 freed before the next is made (in one scope every weight's temporary would be alive at once)
  return tf.tidy(() => addAll(tensors.map((t) => tf.tidy(() => tf.sum(tf.mul(t, 0)))))) as tf.Scalar;
}
