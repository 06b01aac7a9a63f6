/**
 * Losses on logits, per sample, with gradients that stay accurate for confident models.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LossFn, Task } from '../types.js';

/**
 * ∂CE/∂z = p − t, computed without cancellation: p_k − t_k = p_k·(1 − t_k) − t_k·(1 − p_k) with
 * 1 − p_k = Σ_{j≠k} p_j = exp(lse_{j≠k}(z) − lse(z)). The textbook form p_y − 1 rounds to 0 in
 * float32 once the top-1 margin passes ~17 logits, which masks the gradient of confident models
 * (a false sense of robustness); this form stays exact until exp underflows (~87 logits).
 */
const crossEntropyWithAccurateGradient = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [logits, target, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  const lse = tf.logSumExp(logits, 1, true);
  const value = tf.sum(tf.mul(target, tf.sub(lse, logits)), 1);
  save([logits, target, lse]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [z, t, l] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const c = z.shape[1];
      const p = tf.exp(tf.sub(z, l));
      // lse over j ≠ k for every k: mask the diagonal of a [N, C, C] copy of z.
      const offDiagonal = tf.add(tf.expandDims(z, 1), tf.mul(tf.eye(c), -1e30));
      const rest = tf.exp(tf.sub(tf.logSumExp(offDiagonal, 2), l));
      const grad = tf.sub(tf.mul(p, tf.sub(1, t)), tf.mul(t, rest));
      return [tf.mul(grad, tf.expandDims(dy, 1)), tf.zerosLike(t)];
    },
  };
});

/**
 * Per-sample softmax cross-entropy: −Σ_k y_k log softmax(z)_k = Σ_k y_k (lse(z) − z_k), with
 * `labels` either class indices `[N]` or one-hot / probability rows `[N, C]` (rows summing to 1).
 * @returns `[N]`
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const target = labels.rank === 1 ? tf.cast(tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]), 'float32') : tf.cast(labels, 'float32');
    return crossEntropyWithAccurateGradient(logits, target) as tf.Tensor1D;
  });
}

/**
 * Per-sample sigmoid binary cross-entropy, averaged over the C labels:
 * mean_k [max(z,0) − z·y + log(1 + e^{−|z|})], the numerically stable form (its autodiff gradient
 * is already free of cancellation: step(z) − y cancels exactly for confident, correct labels).
 * @returns `[N]`
 */
export function sigmoidBinaryCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const y = tf.cast(labels, 'float32');
    const perLabel = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, y)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    return tf.mean(perLabel, 1) as tf.Tensor1D;
  });
}

/** The default loss of a task. */
export function taskLoss(task: Task): LossFn {
  return task === 'multi-label' ? sigmoidBinaryCrossEntropy : softmaxCrossEntropy;
}

/** Sums a loss that may be per-sample `[N]` or already a scalar. */
export function totalLoss(loss: tf.Tensor): tf.Scalar {
  return (loss.rank === 0 ? loss : tf.sum(loss)) as tf.Scalar;
}

/**
 * The sum of same-shaped tensors, added left to right: `tf.addN` without its one-kernel-many-inputs
 * form. tfjs-backend-webgpu 4.22's AddN binds every input as a storage buffer and ignores the device's
 * `maxStorageBuffersPerShaderStage` (8 on SwiftShader, 10 on many GPUs): with more inputs its pipeline
 * is invalid, nothing is written, and the result is whatever the reused buffer held (a training loss
 * read as 0). A fold of two-input adds is bit for bit the cpu and wasm AddN (both sum in order in float32).
 */
export function addAll(tensors: readonly tf.Tensor[]): tf.Tensor {
  if (tensors.length === 0) throw new Error('medrobust: addAll needs at least one tensor');
  return tf.tidy(() => tensors.slice(1).reduce<tf.Tensor>((sum, t) => tf.add(sum, t), tensors[0]!.clone()));
}
