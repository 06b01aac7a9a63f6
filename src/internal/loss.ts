/**
 * Losses on logits, per sample. Written from log-softmax / log-sigmoid so that gradients of
 * confident models (top-1 margins of many logits) stay accurate in float32.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LossFn, Task } from '../types.js';

/**
 * Per-sample softmax cross-entropy: −Σ_k y_k log softmax(z)_k, with `labels` either class
 * indices `[N]` or one-hot / probability rows `[N, C]`.
 * @returns `[N]`
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const target = labels.rank === 1 ? tf.cast(tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]), 'float32') : tf.cast(labels, 'float32');
    return tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1)) as tf.Tensor1D;
  });
}

/**
 * Per-sample sigmoid binary cross-entropy, averaged over the C labels:
 * mean_k [max(z,0) − z·y + log(1 + e^{−|z|})], the numerically stable form.
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
